"""The package's import graph: no cycles, and dependencies point one way (DESIGN.md section 2).

CLI -> application (batch runs, meta runs, reports) -> graphs -> nodes -> core -> state. Imports inside
functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import autodata

PACKAGE_ROOTS = {  # import name -> folder, as pyproject.toml maps them
    "autodata": Path(autodata.__file__).parent,
    **{f"autodata.{name}": Path(__import__(f"autodata.{name}", fromlist=["_"]).__file__).parent
       for name in ("state", "nodes", "graphs", "training")},
}  # fmt: skip
APPLICATION = ("autodata.cli", "autodata.commands", "autodata.engine.runner", "autodata.meta.optimize", "autodata.report.tables",
               "autodata.engine.baseline_runner", "autodata.report.annotate", "autodata.report.summary", "autodata.engine.remote",
               "autodata.tasks.legal.suitability", "autodata.engine.grading")  # fmt: skip
FORBIDDEN = {
    # importer prefix -> imported prefixes it must not reach
    "autodata.state": ("autodata.",),  # plain data: only other state modules (checked separately below)
    "autodata.nodes": ("autodata.graphs", "autodata.training", *APPLICATION),
    "autodata.graphs": ("autodata.training", *APPLICATION),
    "autodata.training": ("autodata.nodes", "autodata.graphs"),
}


def module_files() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGE_ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            if package == "autodata" and len(parts) > 1 and f"autodata.{parts[1]}" in PACKAGE_ROOTS:
                continue  # a mapped package's folder is walked under its own import name
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    found = set()
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def test_nothing_imports_the_old_top_level_names():
    old = ("state", "nodes", "graphs", "training", "prompts")
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                assert node.module.split(".")[0] not in old, f"{name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in old for a in node.names), f"{name} imports a top-level name"


def test_dependencies_point_one_way():
    violations = []
    for importer, imported in import_graph().items():
        for prefix, banned in FORBIDDEN.items():
            if importer != prefix and not importer.startswith(prefix + "."):
                continue
            for target in imported:
                if prefix == "autodata.state" and target.startswith("autodata.state"):
                    continue
                if any(target == b or target.startswith(b if b.endswith(".") else b + ".") or target.startswith(b + "_") for b in banned):
                    violations.append(f"{importer} -> {target}")
    assert not violations, "forbidden import directions:\n" + "\n".join(sorted(violations))


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)

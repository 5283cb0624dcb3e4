"""The package's import graph: no cycles, and dependencies point one way (DESIGN.md section 2), by package.

Each package sits in one layer (top to bottom below); a module may import its own layer's packages and lower
ones, never a higher one. Imports inside functions count too: a lazy import is still a dependency. A new
module needs no entry here: its package's layer is its layer.
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
# Top to bottom: the command line, the task registry (it declares each task's graph), the applications over
# run directories, the graphs (wiring), the nodes, the core services, the typed state.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("autodata.cli", "autodata.commands"),
    ("autodata.tasks",),
    ("autodata.report", "autodata.training"),
    ("autodata.graphs",),
    ("autodata.nodes",),
    ("autodata.engine", "autodata.meta", "autodata.llm", "autodata.rules", "autodata.prompting"),
    ("autodata.state",),
)
TOP_LEVEL = ("autodata",)  # the package's own __init__ (its version): importable by everyone, imports nothing


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


def layer_of(module: str) -> int | None:
    """The index of the module's package in LAYERS (0 = top); None for the top-level package itself."""
    for index, packages in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return index
    return None


def test_every_module_is_in_a_layer():
    unplaced = [name for name in module_files() if layer_of(name) is None and name not in TOP_LEVEL]
    assert not unplaced, f"modules outside every layer's packages (add the package to LAYERS): {unplaced}"


def test_nothing_imports_the_old_top_level_names():
    old = ("state", "nodes", "graphs", "training", "prompts")
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                assert node.module.split(".")[0] not in old, f"{name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in old for a in node.names), f"{name} imports a top-level name"


def test_dependencies_point_down_the_layers():
    violations = []
    for importer, imported in import_graph().items():
        own = layer_of(importer)
        for target in imported:
            layer = layer_of(target)
            if own is not None and layer is not None and layer < own:
                violations.append(f"{importer} -> {target}")
    assert not violations, "imports of a higher layer:\n" + "\n".join(sorted(violations))


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

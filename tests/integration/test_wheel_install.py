"""The built wheel, installed into a fresh environment outside the checkout, works from any directory.

Only `autodata` is installed at top level, so a `state.py` or a `training/` folder in the working directory
cannot shadow the package; prompts, configs and recipes come from package data, not from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCES = {".venv", ".git", "runs", "build", "dist", ".pytest_cache", ".ruff_cache", ".langgraph_api", "__pycache__"}


def build_wheel(out: Path) -> Path:
    """Build from a copy of the source tree, so the build leaves nothing behind in the checkout."""
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=lambda _dir, names: [n for n in names if n in NOT_SOURCES or n.endswith(".egg-info")])
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return next(out.glob("autodata-*.whl"))


def fresh_environment(path: Path, wheel: Path) -> Path:
    """A new venv holding only the wheel; the dependencies are borrowed from this environment's site-packages."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # A path added by a .pth file is not a site dir: the checkout's editable finder there is not activated.
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return path / "bin"


def shadowing_workdir(path: Path) -> Path:
    """A working directory with the names the package used to install at top level."""
    path.mkdir()
    (path / "state.py").write_text("raise ImportError('the working directory shadowed the package')\n")
    for name in ("training", "nodes", "graphs", "prompts"):
        (path / name).mkdir()
        (path / name / "__init__.py").write_text("raise ImportError('the working directory shadowed the package')\n")
    (path / "sources").mkdir()
    (path / "sources" / "paper.md").write_text("# A paper\n\nA finding about caches and their eviction policy.")
    return path


def test_wheel_installs_only_autodata_and_its_data(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"autodata", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    for data in ("autodata/prompts/judge_rubric.md", "autodata/configs/embedded-demo.toml", "autodata/training/recipes/gpu.toml"):
        assert data in names


def test_installed_cli_runs_outside_the_checkout(tmp_path):
    bin_dir = fresh_environment(tmp_path / "env", build_wheel(tmp_path))
    workdir = shadowing_workdir(tmp_path / "work")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_") and k != "PYTHONPATH"}
    env.update(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false")

    def autodata(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(bin_dir / "autodata"), *args], cwd=workdir, env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    assert "generate" in autodata("--help").stdout
    demo_help = autodata("demo", "--help")
    assert demo_help.returncode == 0 and "--corpora" in demo_help.stdout
    located = subprocess.run([str(bin_dir / "python"), "-c", "import autodata.prompting.library as p; print(p.SHIPPED_PROMPTS_DIR)"],
                             cwd=workdir, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert Path(located.stdout.strip()).is_relative_to(bin_dir.parent)

    with FakeOpenAIServer(per_document_script()) as server:
        run = autodata("generate", "--task", "cs-research", "--sources", "sources", "--out", "run",
                       "--rounds", "1", "--samples", "1", extra_env=server.settings_env())  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (workdir / "run" / "trajectories.jsonl").read_text().strip()

"""What the scale-out tests and benchmark share: the stack with its own fake model endpoint per process,
a corpus whose every request names its document, and `autodata generate --server` run as users run it.

Each server process gets its own fake OpenAI endpoint (AUTODATA_BASE_URL), so an endpoint's request log is
the log of the model calls that process made: that is how a test tells which replica ran which document,
and counts the calls of a document across a replica's death.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scripts.scale_stack import SCALE_VENV, ScaleStack, postgres_bin_dir
from tests.support.fake_openai import FakeRequest, settings_env, unused_port
from tests.support.graph_script import per_document_script

SECRET_ENV = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_API_KEY", "LANGGRAPH_CLOUD_LICENSE_KEY", "OPENAI_API_KEY")
PAPER = re.compile(r"Paper ([A-Za-z]+\d+)")
# For `FakeOpenAIProcess(script="tests.support.scale_out:PER_DOCUMENT")`: answers depend only on the document.
PER_DOCUMENT = per_document_script()


def missing_prerequisites() -> str | None:
    """Why the real stack cannot start here (None when it can): `make scale-venv`, postgresql, redis-server."""
    if not (SCALE_VENV / "bin" / "python").exists():
        return f"{SCALE_VENV} is missing: run `make scale-venv`"
    try:
        postgres_bin_dir()
    except RuntimeError as exc:
        return str(exc)
    if shutil.which("redis-server") is None:
        return "redis-server is not installed: apt-get install -y redis-server"
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without keys or AUTODATA_* settings, tracing off, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV and not k.startswith("AUTODATA_")}
    env.update(LANGSMITH_TRACING="false", LANGGRAPH_CLI_NO_ANALYTICS="1", **extra)
    return env


def replica_env(models_url: str) -> dict[str, str]:
    """A server process's models: every role on `models_url` (one fake endpoint per process)."""
    return settings_env(models_url, AUTODATA_MAX_RETRIES="1", AUTODATA_TIMEOUT="30")


def start_stack(log_dir: Path, *, heartbeat_s: float = 1.0, jobs_per_worker: int = 2) -> ScaleStack:
    """Postgres and Redis only (fast and disposable); the caller starts the server processes it wants."""
    stack = ScaleStack(log_dir, env=clean_env(), heartbeat_s=heartbeat_s, jobs_per_worker=jobs_per_worker, durable=False)
    try:
        stack.ensure_backends()
    except BaseException:
        stack.stop()
        raise
    return stack


def write_papers(root: Path, n: int, tag: str) -> Path:
    """n papers titled `Paper <tag>NN`: the per-document script's question names the title, so every model
    request of a document (challenger, verifier, solvers, judge) carries it."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"{tag}{i:02d}.md").write_text(f"# Paper {tag}{i:02d}\n\nA distinct finding number {i} about topic {i * 13}.")
    return root


def paper_of(request: FakeRequest) -> str | None:
    """The document a model request belongs to (its `Paper <tag>NN` title), or None."""
    text = " ".join(str(m.get("content") or "") for m in request.messages)
    found = PAPER.search(text)
    return found.group(1) if found else None


def calls_per_paper(requests: list[FakeRequest], tag: str = "") -> Counter[str]:
    return Counter(p for p in map(paper_of, requests) if p is not None and p.startswith(tag))


def client_env(**extra: str) -> dict[str, str]:
    """The CLI's environment: with --server the models are the server's business, so the client's own
    endpoint is a port nothing listens on (any model call from the client would fail loudly)."""
    return clean_env(**settings_env(f"http://127.0.0.1:{unused_port()}/v1", AUTODATA_NO_PROGRESS="1"), **extra)


def generate_command(server: str, sources: Path, out: Path, *extra: str, task: str = "cs-research") -> list[str]:
    return [sys.executable, "-m", "autodata.cli", "generate", "--task", task, "--sources", str(sources),
            "--out", str(out), "--server", server, *extra]  # fmt: skip


def run_generate(command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env or client_env(), capture_output=True, text=True, timeout=timeout)


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")

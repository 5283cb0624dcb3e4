"""`autodata generate` as users run it: a subprocess against a fake OpenAI-compatible server on loopback.

kill -9 and resume, bad input, and planted secrets. The models are remote (the fake server), so no
embedded server is involved and the runs take seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autodata.engine.rundir import RunDirectory
from autodata.llm.settings import REMOTE_SOURCE_CHARS
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration
PLANTED_KEY = "sk-PLANTED-d3adb33f-never-write-me"


def make_corpus(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i:02d}.md").write_text(f"# Paper {i:02d}\n\nA distinct finding number {i} about topic {i * 13}.")
    return root


def cli_env(server: FakeOpenAIServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update(server.settings_env(AUTODATA_API_KEY=PLANTED_KEY, AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false"))
    return env


def generate_cmd(sources: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autodata.cli", "generate", "--task", "cs-research", "--sources", str(sources),
            "--out", str(out), "--samples", "2", "--rounds", "2", "--concurrency", "3", *extra]  # fmt: skip


def run_cli(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def server():
    with FakeOpenAIServer(per_document_script(), latency=0.05) as fake:
        yield fake


def test_kill_9_then_rerun_gives_the_same_items_as_an_uninterrupted_run(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 12)
    env = cli_env(server)
    reference = run_cli(generate_cmd(sources, tmp_path / "reference"), env)
    assert reference.returncode == 0, reference.stderr
    expected = sorted(item["id"] for item in RunDirectory(tmp_path / "reference").items())
    assert len(expected) == 12

    out = tmp_path / "killed"
    proc = subprocess.Popen(generate_cmd(sources, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trajectories = out / "trajectories.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if trajectories.exists() and len(trajectories.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    finished_before = len(trajectories.read_text().splitlines())
    assert 3 <= finished_before < 12, "the kill must land mid-run"

    rerun = run_cli(generate_cmd(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    items = RunDirectory(out).items()
    ids = [item["id"] for item in items]
    assert sorted(ids) == expected and len(ids) == len(set(ids)), "no lost and no duplicated rows"
    rows = list(RunDirectory(out).trajectories())
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accepted"] == 12 and stats["resumed"] >= finished_before - 1


def test_bad_documents_are_reported_and_the_batch_goes_on(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 2)
    (sources / "empty.md").write_bytes(b"")
    (sources / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (sources / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    (sources / "huge.md").write_text("# Huge\n\n" + "\n\n".join(f"Paragraph {i}. " + "text " * 200 for i in range(400)))
    out = tmp_path / "run"
    result = run_cli(generate_cmd(sources, out), cli_env(server))
    assert result.returncode == 3, "exit code 3 tells a partial failure from success"
    errors = {e["doc_id"]: e["reason"] for e in RunDirectory(out).errors()}
    assert errors["empty"] == "empty file"
    assert errors["image"].startswith("binary file")
    assert errors["latin1"].startswith("invalid UTF-8")
    assert "3 document(s) were bad input" in result.stderr
    rows = {r["doc_id"]: r for r in RunDirectory(out).trajectories()}
    assert set(rows) == {"doc00", "doc01", "huge"}  # the long document is chunked, not rejected
    challenger_prompts = [" ".join(str(m.get("content", "")) for m in r.messages)
                          for r in server.requests if r.role == "challenger"]
    huge_prompt = next(p for p in challenger_prompts if "Paper: Huge" in p)
    # Over the reading budget (a whole paper on a remote model) the document is cut: one span of it.
    assert "Paragraph 0." in huge_prompt and "Paragraph 399." not in huge_prompt
    assert len(huge_prompt) < REMOTE_SOURCE_CHARS + 12_000


def test_max_requests_bounds_the_requests_the_endpoint_sees(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 3)
    out = tmp_path / "run"
    result = run_cli(generate_cmd(sources, out, "--max-requests", "1"), cli_env(server))
    assert result.returncode == 0, result.stderr
    arrivals = sorted(r.arrived for r in server.requests)
    # One slot: each request starts after the one before it has had its 50 ms answer (3 documents in flight).
    assert all(later - earlier >= 0.045 for earlier, later in zip(arrivals, arrivals[1:]))
    config = json.loads((out / "config.json").read_text())
    assert {role["max_concurrent_requests"] for role in config["settings"]["roles"].values()} == {1}


def test_missing_sources_path_is_a_clear_startup_error(tmp_path, server):
    result = run_cli(generate_cmd(tmp_path / "nope", tmp_path / "run"), cli_env(server))
    assert result.returncode == 2
    assert "sources path does not exist" in result.stderr


def test_api_keys_never_reach_the_run_directory(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 2)
    out = tmp_path / "run"
    result = run_cli(generate_cmd(sources, out), cli_env(server))
    assert result.returncode == 0, result.stderr
    assert PLANTED_KEY not in result.stdout + result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert PLANTED_KEY.encode() not in path.read_bytes(), f"API key leaked into {path}"
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["roles"]["judge"]["api_key_set"] is True


def test_demo_runs_every_task_in_one_process_without_model_errors(tmp_path, server):
    corpora = tmp_path / "corpora"
    make_corpus(corpora / "cs_papers", 2)
    make_corpus(corpora / "legal", 2)
    (corpora / "math_science").mkdir()
    rows = [{"question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(1, 3)]
    (corpora / "math_science" / "problems.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "autodata.cli", "demo", "--corpora", str(corpora), "--out", str(out)]
    result = run_cli(cmd, cli_env(server))
    assert result.returncode == 0, result.stderr
    for task in ("cs-research", "legal", "science"):
        stats = json.loads((out / task / "stats.json").read_text())
        assert stats["documents"] == 2, task
        # Later tasks reuse the first task's chat models: they must not fail on a closed event loop.
        assert all(usage["failures"] == 0 for usage in stats["usage"].values()), (task, stats["usage"])
    assert "Event loop is closed" not in (out / "legal" / "trajectories.jsonl").read_text()
    # `--task legal` ran the legal graph (its context), and the scripted loop judge accepted both documents.
    assert "max_improve_rounds" in json.loads((out / "legal" / "config.json").read_text())["context"]
    assert json.loads((out / "legal" / "stats.json").read_text())["accepted"] == 2


def test_unreachable_endpoint_is_a_clear_startup_error(tmp_path):
    from tests.support.fake_openai import settings_env, unused_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update(settings_env(f"http://127.0.0.1:{unused_port()}/v1", AUTODATA_NO_PROGRESS="1"))
    sources = make_corpus(tmp_path / "src", 1)
    result = run_cli(generate_cmd(sources, tmp_path / "run"), env)
    assert result.returncode == 2
    assert "cannot reach http://127.0.0.1:" in result.stderr and "roles: orchestrator, challenger" in result.stderr

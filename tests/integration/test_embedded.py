"""The real embedded backend: llama.cpp's server with SmolLM2-135M on loopback, real shared documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from datasets import load_from_disk

from autodata.engine.corpus import iter_documents
from autodata.llm.embedded import EmbeddedBackendError, EmbeddedServer, stop_embedded_server
from autodata.llm.models import ModelProvider
from autodata.nodes.self_instruct.challenger import challenger
from autodata.nodes.shared.judge import judge_attempts
from autodata.nodes.self_instruct.orchestrator import orchestrator
from autodata.nodes.shared.quality_verifier import quality_verifier
from autodata.nodes.shared.solver import solve
from autodata.engine.rundir import RunDirectory
from autodata.llm.settings import EmbeddedConfig, load_settings
from autodata.state.context import RunContext
from autodata.state.schemas import CandidateItem, RoundOutcome, RubricCriterion
from autodata.state.self_instruct import SelfInstructState, SolveTask
from tests.conftest import ROOT, SHARED_CORPORA

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not SHARED_CORPORA.exists(), reason="../shared/corpora not present"),
]
PAPER = SHARED_CORPORA / "cs_papers" / "distill_research-debt.md"
SEEDED = {f"AUTODATA_{role}_SEED": "7" for role in ("ORCHESTRATOR", "CHALLENGER", "QUALITY_VERIFIER", "WEAK", "STRONG", "JUDGE")}


class Runtime:
    def __init__(self, context: RunContext) -> None:
        self.context = context


@pytest.fixture(scope="module")
def provider():
    provider = ModelProvider(load_settings(env=SEEDED))
    yield provider
    stop_embedded_server()


def test_generate_runs_a_full_round_on_a_real_document(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update(SEEDED, AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false")
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", "cs-research", "--sources", str(PAPER),
           "--out", str(out), "--rounds", "2", "--samples", "2", "--config", str(ROOT / "configs/embedded-demo.toml")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Autodata run summary" in result.stderr and str(out) in result.stderr.replace("\n", "")

    (trajectory,) = list(RunDirectory(out).trajectories())
    assert trajectory["status"] in ("accepted", "exhausted", "filtered") and trajectory["rounds"]
    first = trajectory["rounds"][0]
    assert first["item"]["question"].strip(), "the challenger's real output is in the trajectory"
    assert first["quality"] and first["quality"][0]["stage"] == "initial"
    usage = trajectory["usage"]
    assert usage["challenger"]["prompt_tokens"] > 0 and usage["challenger"]["completion_tokens"] > 0
    # The quality verifier's model answers every draft the code rules did not already reject (those get no call).
    model_checked = [r for r in trajectory["rounds"] if r["quality"] and r["quality"][0]["leakage"] is not None]
    assert bool(model_checked) == (usage.get("quality_verifier", {}).get("completion_tokens", 0) > 0)
    for record in trajectory["rounds"]:
        for attempt in record["attempts"]:  # every solver output is real text, or a recorded failure
            assert attempt["answer"].strip() or attempt["error"]
        if record["feedback"]:
            assert record["feedback"]["category"] and record["feedback"]["details"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"] == 1 and stats["rounds"] == len(trajectory["rounds"])
    dataset = load_from_disk(str(out / "dataset"))
    assert dataset.num_rows == stats["accepted"]


async def test_every_role_answers_through_its_node(provider):
    """Each role's node, called on the real model: challenger, quality verifier, both solvers, judge, orchestrator."""
    relaxed = {"min_rubric_criteria": 1, "min_positive_criteria": 1, "min_negative_criteria": 0}
    ctx = RunContext(task="cs-research", samples=1, max_rounds=2, policy=relaxed)
    runtime = Runtime(ctx)
    doc = next(iter_documents(PAPER, max_chars=2500))
    state = SelfInstructState(document=doc)
    # The quality verifier, solvers and judge get a fixed, well-formed item, so the test does not depend on the
    # draft's quality (a draft that breaks a code rule is rejected without a quality-verifier call).
    item = CandidateItem(
        context="Research debt is the accumulation of missing interpretive labor in a field.",
        question="Why does research debt make it harder for newcomers to contribute?",
        reference_answer="Because they must redo the missing interpretive work before reaching the frontier.",
        rubric=[RubricCriterion(criterion="Mentions missing explanations", weight=2),
                RubricCriterion(criterion="Claims research debt helps newcomers", weight=-1)],
    )
    drafted = await challenger(state, runtime, provider=provider)
    assert drafted["item"] is not None and drafted["item"].question.strip()
    state = state.model_copy(update={k: v for k, v in drafted.items() if k not in ("usage", "item")})

    checked = await quality_verifier(state.model_copy(update={"item": item}), runtime, provider=provider)
    assert len(checked["quality"]) == 1 and checked["usage"]["quality_verifier"].completion_tokens > 0
    attempts = []
    for role in ("weak", "strong"):
        solved = await solve(SolveTask(role=role, sample_index=0, round=1, item=item, document=doc), runtime,
                            provider=provider)
        (attempt,) = solved["attempts"]
        assert attempt.error is None and attempt.answer.strip()
        assert solved["usage"][role].completion_tokens > 0
        attempts.append(attempt)
    if provider.config("strong").reasoning:
        assert provider.config("strong").max_tokens > provider.config("weak").max_tokens

    scores, usage = await judge_attempts(provider, attempts, item, ctx, {})
    assert usage.calls >= 2 and usage.completion_tokens > 0
    scored = [s for s in scores if s.score is not None]
    assert all(0.0 <= s.score <= 1.0 and len(s.criteria_hits) == 2 for s in scored)
    assert all(s.error for s in scores if s.score is None)  # a judge failure is recorded, never a silent 0

    failed = SelfInstructState(document=doc, round=1, item=item, outcome=RoundOutcome.FAILED_ON_STRONG,
                               attempts=attempts, scores=scores)  # fmt: skip
    feedback = await orchestrator(failed, runtime, provider=provider)
    (entry,) = feedback["feedback"]
    assert entry.category.value == "FAILED ON STRONG" and entry.advice.strip()
    assert feedback["usage"]["orchestrator"].completion_tokens > 0


def test_server_start_errors_are_clear(tmp_path):
    with pytest.raises(EmbeddedBackendError, match="model file not found"):
        EmbeddedServer(EmbeddedConfig(model_path=str(tmp_path / "missing.gguf"))).start()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(EmbeddedBackendError, match="exited with code"):
        EmbeddedServer(EmbeddedConfig(model_path=str(bad), startup_timeout=60)).start()


def test_embedded_server_dies_with_its_parent(tmp_path):
    """kill -9 of the process that started the server must not leave an orphaned llama.cpp server."""
    script = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from autodata.llm.embedded import ensure_embedded_server\n"
        "from autodata.llm.settings import EmbeddedConfig\n"
        "server = ensure_embedded_server(EmbeddedConfig())\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(60)\n" % str(ROOT)
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait(timeout=10)
    for _ in range(100):
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{server_pid}/stat") as fh:
            if fh.read().split()[2] == "Z":  # reaped by init soon; already dead
                return
        __import__("time").sleep(0.1)
    os.kill(server_pid, 9)
    pytest.fail("the llama.cpp server outlived its parent")


def test_generate_science_runs_the_science_graph_on_a_real_problem(tmp_path):
    """Minimum budget: one problem row, one round, one sample per solver."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update(SEEDED, AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false")
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", "science", "--limit", "1",
           "--sources", str(SHARED_CORPORA / "math_science" / "problems.jsonl"), "--out", str(out),
           "--rounds", "1", "--samples", "1", "--config", str(ROOT / "configs/embedded-demo.toml")]  # fmt: skip
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    (trajectory,) = list(RunDirectory(out).trajectories())
    (record,) = trajectory["rounds"]
    assert len(record["candidates"]) == 3  # the demo config's [science] candidates, each recorded
    assert all(c["item"] or c["error"] for c in record["candidates"])
    evaluated = {c["index"] for c in record["candidates"] if c["status"] == "selected"}
    assert len(evaluated) <= 1 and {r["candidate"] for r in record["results"]} == evaluated
    assert {c["candidate"] for c in record["checks"]} == evaluated and len(record["checks"]) == 2 * len(evaluated)
    deciders = {"exact_match", "math_verify", "judge", "no_answer", "unscored"}
    assert {c["decided_by"] for c in record["checks"]} <= deciders
    assert trajectory["usage"]["challenger"]["calls"] >= 3
    assert record["outcome"] == "accepted" or record["diagnosis"].strip()

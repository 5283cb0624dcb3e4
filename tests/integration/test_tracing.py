"""LangSmith tracing as users turn it on: `autodata generate` with `LANGSMITH_TRACING=true`, its traces sent to a
loopback stand-in of the ingest API that records them, its models on the fake OpenAI-compatible server.

One 36 KB paper, three rounds (the first two too easy, the third accepted). What must hold: the paper's text
is only in the model calls whose prompts hold it (no node run carries it), so the payload per round stays
near those prompts' size; runs are named by step and carry task, document, role and round; no key is sent;
the items are those of the same run with tracing off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.langsmith_standin import LangSmithStandIn

pytestmark = pytest.mark.integration
ROUNDS = 3
PLANTED_KEYS = ("sk-PLANTED-autodata-0f1e2d3c", "sk-PLANTED-openai-4b5a6978")
LANGSMITH_KEY = "lsv2-dummy-standin-key"
MARKER = "Zebra finches anneal the quenched lattice"  # once in the paper: each copy of its text shows it
# Bytes of trace per round: the prompts that hold the paper (challenger, quality verifier: about 2.3 calls a
# round here) plus a fixed allowance for the node and small model-call runs. Before node runs were compacted
# the same run sent about 24 x the paper per round.
PAPER_COPIES_PER_ROUND = 3
FIXED_BYTES_PER_ROUND = 200_000


def write_paper(sources: Path) -> int:
    sources.mkdir(parents=True)
    sentence = "Dropout sets a random fraction of hidden activations to zero during training, a regulariser. "
    text = "# Paper\n\n" + sentence * 200 + MARKER + ". " + sentence * 200
    (sources / "paper.md").write_text(text)
    return len(text.encode())


def script() -> GraphScript:
    """Weak answers as good as strong ones until round 3 (too easy, refined), then the item is accepted."""
    items = [rubric_item(f"How does the method behave in round {r} under load?") for r in range(1, ROUNDS + 1)]

    def solver(role: str, question: str) -> str:
        return "strong answer" if role == "strong" or f"round {ROUNDS}" not in question else "weak answer"

    return GraphScript(items=items, solver=solver)


def generate(sources: Path, out: Path, server: FakeOpenAIServer, **tracing_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTODATA_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(server.settings_env(AUTODATA_API_KEY=PLANTED_KEYS[0], OPENAI_API_KEY=PLANTED_KEYS[1],
                                   AUTODATA_NO_PROGRESS="1", **{"LANGSMITH_TRACING": "false", **tracing_env}))  # fmt: skip
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", "cs-research", "--sources", str(sources),
           "--out", str(out), "--samples", "2", "--rounds", str(ROUNDS)]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def items_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(paper bytes, stand-in, fake server requests, traced run dir, untraced run dir)."""
    root = tmp_path_factory.mktemp("tracing")
    paper_bytes = write_paper(root / "src")
    with LangSmithStandIn() as standin:
        with FakeOpenAIServer(script()) as server:
            # Uncompressed batches: the bytes counted are those LangSmith stores (its cloud takes them zstd-compressed).
            on = generate(root / "src", root / "on", server, LANGSMITH_TRACING="true", LANGSMITH_ENDPOINT=standin.url,
                          LANGSMITH_API_KEY=LANGSMITH_KEY, LANGSMITH_DISABLE_RUN_COMPRESSION="true")  # fmt: skip
            assert on.returncode == 0, on.stderr
            requests = list(server.requests)
        with FakeOpenAIServer(script()) as server:
            off = generate(root / "src", root / "off", server)
            assert off.returncode == 0, off.stderr
        yield paper_bytes, standin, requests, root / "on", root / "off"


def test_tracing_changes_no_item(traced):
    _, standin, _, on, off = traced
    assert standin.operations, "the traced run sent nothing"
    assert items_of(on) == items_of(off)
    stats = json.loads((on / "stats.json").read_text())
    assert stats["accepted"] == 1 and stats["rounds"] == ROUNDS


def test_the_paper_is_sent_only_in_the_prompts_that_hold_it(traced):
    paper_bytes, standin, requests, _, _ = traced
    runs = standin.runs()
    carrying = sorted(run["name"] for run in runs.values() if MARKER in json.dumps(run.get("inputs")))
    prompts_with_paper = sorted(r.role for r in requests if any(MARKER in str(m.get("content")) for m in r.messages))
    assert prompts_with_paper and carrying == prompts_with_paper  # model calls, by the role's name; no node run
    assert all(MARKER not in json.dumps(run.get("outputs")) for run in runs.values())
    # Every copy on the wire is one of those prompts (a node run's document is a reference).
    wire = b"".join(request.body for request in standin.requests)
    assert wire.count(MARKER.encode()) == len(prompts_with_paper)
    per_round = standin.ingest_bytes() / ROUNDS
    print(f"\ntrace payload: {per_round:,.0f} bytes per round for a {paper_bytes:,}-byte paper")  # the README's figure
    assert per_round <= PAPER_COPIES_PER_ROUND * paper_bytes + FIXED_BYTES_PER_ROUND, per_round
    node = next(run for run in runs.values() if run["name"] == "score_weak")
    document = node["inputs"]["input"]["document"]
    assert document["doc_id"] == "paper" and document["chars"] == paper_bytes and len(document["sha256"]) == 64
    assert "text" not in document


def test_node_runs_show_the_round_item_scores_and_feedback(traced):
    _, standin, _, _, _ = traced
    runs = [run for run in standin.runs().values() if run["name"] == "score_weak"]
    assert sorted(run["inputs"]["input"]["round"] for run in runs) == list(range(1, ROUNDS + 1))
    last = max(runs, key=lambda run: run["inputs"]["input"]["round"])
    assert f"round {ROUNDS}" in last["inputs"]["input"]["item"]["question"]
    assert {score["round"] for score in last["outputs"]["scores"]} == {ROUNDS}
    # Earlier rounds' records are counted, not repeated, in a later round's node inputs.
    assert last["inputs"]["input"]["feedback"] == []
    assert last["inputs"]["input"]["earlier_rounds_left_out"]["feedback"] == ROUNDS - 1
    orchestrator = next(run for run in standin.runs().values() if run["name"] == "orchestrator" and run["run_type"] == "chain")
    assert orchestrator["outputs"]  # what the node wrote


def test_runs_are_named_by_step_and_carry_task_document_role_and_round(traced):
    _, standin, requests, _, _ = traced
    calls = [run for run in standin.runs().values() if run.get("run_type") == "llm"]
    assert len(calls) == len(requests), "every model call's run was sent before the process exited"
    assert all(run.get("end_time") for run in standin.runs().values()), "every run was closed"
    names = {run["name"] for run in calls}
    assert {"challenger", "quality_verifier", "orchestrator", "weak_solver[0]", "weak_solver[1]",
            "strong_solver[1]", "judge[weak 0]", "judge[strong 1]"} <= names  # fmt: skip
    for run in calls:
        metadata = run["extra"]["metadata"]
        assert metadata["task"] == "cs-research" and metadata["document_id"] == "paper"
        assert metadata["role"] and metadata["round"] in range(1, ROUNDS + 1)
        assert {"task:cs-research", "method:self_instruct", f"role:{metadata['role']}"} <= set(run["tags"])
    strong_round_3 = [run for run in calls if run["extra"]["metadata"]["role"] == "strong"
                      and run["extra"]["metadata"]["round"] == ROUNDS]  # fmt: skip
    assert len(strong_round_3) == 2


def test_no_key_is_sent(traced):
    _, standin, _, _, _ = traced
    for request in standin.requests:
        for key in (*PLANTED_KEYS, LANGSMITH_KEY):
            assert key.encode() not in request.body, f"{key} in a {request.path} body"
        for key in PLANTED_KEYS:
            assert all(key not in value for value in request.headers.values())

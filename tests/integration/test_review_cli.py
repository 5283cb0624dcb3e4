"""`generate --review` and `autodata review` as users run them: subprocesses against the fake OpenAI server.

Documents whose item would be kept wait for a person (awaiting_review, no rows written); `autodata review`
records approve / reject / edit decisions; the same `generate` command carries the reviewed documents on, each
decision applied once, each item written once with its review."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autodata.engine.reviews import ReviewLog
from autodata.engine.rundir import RunDirectory
from tests.integration.test_cli_runs import cli_env, make_corpus, run_cli
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration


@pytest.fixture
def server():
    with FakeOpenAIServer(per_document_script(), latency=0.0) as fake:
        yield fake


def generate(sources: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "autodata.cli", "generate", "--task", "cs-research", "--sources", str(sources),
            "--out", str(out), "--samples", "2", "--rounds", "2", "--concurrency", "2", "--review"]  # fmt: skip


def review(out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "autodata.cli", "review", str(out), *flags]


def stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def waiting_by_doc(out: Path) -> dict[str, str]:
    return {pause.doc_id: pause.item_id for pause in ReviewLog(out).waiting()}


def test_reviewed_documents_are_carried_on_by_the_next_run_each_decision_applied_once(tmp_path, server):
    sources, out = make_corpus(tmp_path / "src", 3), tmp_path / "run"
    env = {**cli_env(server), "AUTODATA_REVIEWER": "ana"}
    first = run_cli(generate(sources, out), env)
    assert first.returncode == 0, first.stderr
    assert stats(out)["awaiting_review"] == 3 and stats(out)["documents"] == 0
    assert "3 document(s) await review" in " ".join((first.stdout + first.stderr).split())
    assert RunDirectory(out).items() == [] and list(RunDirectory(out).trajectories()) == []
    ids = waiting_by_doc(out)
    assert sorted(ids) == ["doc00", "doc01", "doc02"]
    listed = run_cli(review(out, "--list"), env)
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == sorted(ids.values())

    edits = tmp_path / "edits.json"
    new_answer = "Under load it sheds the lowest-priority work first."
    edits.write_text(json.dumps({"question": "How does Paper 02's method behave under load?",
                                 "reference_answer": new_answer}))  # fmt: skip
    decided = run_cli(review(out, "--approve", ids["doc00"], "--reject", ids["doc01"], "--reason", "too vague",
                             "--edit", ids["doc02"], str(edits), "--reviewer", "bo"), env)  # fmt: skip
    assert decided.returncode == 0, decided.stdout + decided.stderr
    again = run_cli(review(out, "--approve", ids["doc00"]), env)
    assert again.returncode == 2 and "already decided" in again.stdout
    no_reason = run_cli(review(out, "--reject", ids["doc00"]), env)
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stdout

    second = run_cli(generate(sources, out), env)
    assert second.returncode == 0, second.stderr
    items = {item["source_doc_id"]: item for item in RunDirectory(out).items()}
    assert sorted(items) == ["doc00", "doc02"]
    assert [(r["decision"], r["reviewer"]) for r in items["doc00"]["reviews"]] == [("approve", "bo")]
    (edit,) = items["doc02"]["reviews"]
    assert edit["edited_fields"] == ["question", "reference_answer"] and edit["needs_rescore"]
    assert items["doc02"]["reference_answer"] == new_answer
    trajectories = {row["doc_id"]: row for row in RunDirectory(out).trajectories()}
    assert [r["rule"] for r in trajectories["doc02"]["rounds"]] == ["review_edit", None]  # scored again
    # The rejected document ran a second round, and waits again on its new item.
    assert stats(out)["awaiting_review"] == 1 and list(waiting_by_doc(out)) == ["doc01"]
    assert waiting_by_doc(out)["doc01"] == ids["doc01"]

    assert run_cli(review(out, "--approve", ids["doc01"], "--reviewer", "cy"), env).returncode == 0
    third = run_cli(generate(sources, out), env)
    assert third.returncode == 0, third.stderr
    fourth = run_cli(generate(sources, out), env)  # nothing left to do: nothing applied or written twice
    assert fourth.returncode == 0, fourth.stderr
    rows = RunDirectory(out).items()
    assert sorted(item["source_doc_id"] for item in rows) == ["doc00", "doc01", "doc02"]
    reviewed = {item["source_doc_id"]: [(r["decision"], r["reviewer"]) for r in item["reviews"]] for item in rows}
    assert reviewed["doc01"] == [("reject", "bo"), ("approve", "cy")]
    assert stats(out)["awaiting_review"] == 0 and stats(out)["accepted"] == 3
    assert stats(out)["rejection_rules"] == {"failed_quality_check:review": 1, "failed_quality_check:review_edit": 1}
    assert stats(out)["final_filter"] == {"passed": 5, "rejected": 0}  # a reviewer's verdict is not the filter's
    assert ReviewLog(out).summary() == {"approve": 2, "edit": 1, "reject": 1}


def test_a_decision_survives_kill_9_of_the_run_that_applies_it(tmp_path, server):
    sources, out = make_corpus(tmp_path / "src", 2), tmp_path / "run"
    env = cli_env(server)
    assert run_cli(generate(sources, out), env).returncode == 0
    ids = waiting_by_doc(out)
    assert run_cli(review(out, "--reject", ids["doc00"], "--reason", "ambiguous", "--reviewer", "ana"),
                   env).returncode == 0  # fmt: skip
    assert run_cli(review(out, "--approve", ids["doc01"], "--reviewer", "ana"), env).returncode == 0

    server.latency = 0.3  # slow enough to land the kill while the rejected document runs its next round
    before = len(server.requests)
    proc = subprocess.Popen(generate(sources, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(server.requests) <= before and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(server.requests) > before, "the kill must land after the decisions were being applied"
    server.latency = 0.0
    rerun = run_cli(generate(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    items = RunDirectory(out).items()
    assert [item["source_doc_id"] for item in items] == ["doc01"]
    assert [r["decision"] for r in items[0]["reviews"]] == ["approve"]
    # doc00's rejection was applied once: its round closed, the next round's item waits on a new pause.
    assert [row["doc_id"] for row in RunDirectory(out).trajectories()] == ["doc01"]
    assert stats(out)["awaiting_review"] == 1 and list(waiting_by_doc(out)) == ["doc00"]
    assert ReviewLog(out).waiting()[0].payload["round"] == 2
    log = ReviewLog(out)
    assert len([key for key in log.decisions() if key[0] == ids["doc00"]]) == 1
    assert len(log.applied()) == 2 and log.ignored() == set()  # applied, so never noted as stale

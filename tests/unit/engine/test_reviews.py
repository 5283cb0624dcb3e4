"""The review files of a run directory, and the batch engine's use of them: paused documents wait and are
listed, a decision resumes only the pause it was taken on, and a stale one is noted once, never applied."""

from __future__ import annotations

import pytest

from autodata.engine.corpus import iter_documents
from autodata.engine.reviews import Pause, ReviewLog, ReviewLogError
from autodata.engine.rundir import append_jsonl
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import scripted_provider


def test_a_pause_is_listed_once_decided_once_and_a_new_pause_waits_again(tmp_path):
    log = ReviewLog(tmp_path)
    log.record_pause(Pause("item-a", "a", "p1", {"question": "Q1"}))
    log.record_pause(Pause("item-a", "a", "p1", {"question": "Q1"}))  # the same pause, seen by a re-run
    assert [(p.item_id, p.pause_id) for p in log.waiting()] == [("item-a", "p1")]
    log.record_decision("item-a", {"decision": "reject", "reason": "vague"})
    assert log.waiting() == []
    with pytest.raises(ReviewLogError, match="already decided"):
        log.record_decision("item-a", {"decision": "approve"})
    with pytest.raises(ReviewLogError, match="no item item-b"):
        log.record_decision("item-b", {"decision": "approve"})
    log.record_pause(Pause("item-a", "a", "p2", {"question": "Q2"}))  # the next round's item
    assert [p.payload["question"] for p in log.waiting()] == ["Q2"]
    assert log.decision_for("item-a", "p1") == {"decision": "reject", "reason": "vague"}


def test_a_torn_last_line_is_skipped_and_not_glued_to_the_next_decision(tmp_path):
    log = ReviewLog(tmp_path)
    log.record_pause(Pause("item-a", "a", "p1", {}))
    log.reviews_path.write_text('{"id": "item-a", "pause_id": "p1", "deci')  # a kill -9 mid-write
    log.record_decision("item-a", {"decision": "approve", "reviewer": "ana"})
    assert log.decision_for("item-a", "p1") == {"decision": "approve", "reviewer": "ana"}


async def run(tmp_path):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "a.md").write_text("# Paper A\n\nDropout zeroes activations at random during training.")
    (src / "b.md").write_text("# Paper B\n\nBatch normalisation rescales activations per mini-batch.")
    script = GraphScript(items=[rubric_item("Why does dropout regularise a large network?")])
    options = GenerateOptions(task="cs-research", samples=2, max_rounds=2, review=True)
    run_dir = RunDirectory(tmp_path / "run")
    stats = await Generator(options, scripted_provider(script), run_dir).run(iter_documents(src, max_chars=2000))
    return stats, run_dir


async def test_paused_documents_wait_and_a_stale_decision_is_noted_once_and_never_applied(tmp_path):
    stats, run_dir = await run(tmp_path)
    assert (stats.awaiting_review, stats.documents, stats.accepted) == (2, 0, 0)
    assert run_dir.items() == [] and list(run_dir.trajectories()) == []
    assert run_dir.read_config()["context"]["review"] is True
    log = ReviewLog(run_dir.path)
    waiting = {pause.doc_id: pause for pause in log.waiting()}
    assert waiting["a"].payload["question"] == "Why does dropout regularise a large network?"

    # A decision on a pause the thread is not at (taken elsewhere, on an older pause): not applied, noted once.
    append_jsonl(log.reviews_path, {"id": waiting["a"].item_id, "pause_id": "old-pause", "decision": "approve"})
    log.record_decision(waiting["b"].item_id, {"decision": "approve", "reviewer": "ana"})
    for _ in range(2):
        stats, run_dir = await run(tmp_path)
    assert stats.awaiting_review == 1 and stats.accepted == 1  # b was carried on by the first re-run
    (item,) = run_dir.items()
    assert item["source_doc_id"] == "b" and [r["reviewer"] for r in item["reviews"]] == ["ana"]
    assert log.ignored() == {(waiting["a"].item_id, "old-pause")}
    assert log.applied() == {(waiting["b"].item_id, waiting["b"].pause_id)}
    notes = [row for row in log._rows() if "ignored" in row]
    assert len(notes) == 1 and "moved past" in notes[0]["ignored"]
    assert [pause.doc_id for pause in log.waiting()] == ["a"]

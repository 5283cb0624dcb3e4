"""Crash and resume with scripted models: nothing lost, nothing duplicated, work continues from checkpoints."""

import asyncio
import json
import threading

import pytest

from autodata.engine.corpus import iter_documents
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from tests.support.graph_script import GraphScript, per_document_script, rubric_item
from tests.support.scripted import scripted_provider


def make_corpus(tmp_path, n=4):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        (src / f"doc{i}.md").write_text(f"# Paper {i}\n\nTopic number {i} is about a distinct subject {i * 7}.")
    return src


class Stall:
    """Blocks the strong solver on one document so the run can be cancelled mid-graph (like Ctrl-C)."""

    def __init__(self, on: str) -> None:
        self.on, self.entered, self.release = on, threading.Event(), threading.Event()


def script_for(stall: Stall | None = None):
    return per_document_script(stall.on if stall else None, stall)


async def generate(tmp_path, src, script, run_name="run", concurrency=2):
    provider = scripted_provider(script)
    run_dir = RunDirectory(tmp_path / run_name)
    generator = Generator(GenerateOptions(task="cs-research", samples=2, max_rounds=2, concurrency=concurrency),
                          provider, run_dir)
    stats = await generator.run(iter_documents(src, max_chars=2000))
    return stats, run_dir, provider


async def test_crash_then_resume_matches_an_uninterrupted_run(tmp_path):
    src = make_corpus(tmp_path)
    _, reference_dir, _ = await generate(tmp_path, src, script_for(), run_name="reference")
    expected_ids = sorted(item["id"] for item in reference_dir.items())
    assert len(expected_ids) == 4

    stall = Stall(on="Paper 2")
    interrupted = asyncio.create_task(generate(tmp_path, src, script_for(stall), concurrency=1))
    while not stall.entered.is_set():
        await asyncio.sleep(0.01)
    interrupted.cancel()
    with pytest.raises(asyncio.CancelledError):
        await interrupted
    stall.release.set()

    run_dir = RunDirectory(tmp_path / "run")
    done_before = {row["doc_id"] for row in run_dir.trajectories()}
    assert done_before == {"doc0", "doc1"}

    stats, run_dir, provider = await generate(tmp_path, src, script_for(), concurrency=1)
    ids = [item["id"] for item in run_dir.items()]
    assert sorted(ids) == expected_ids and len(ids) == len(set(ids))
    assert stats.resumed == 2 and stats.documents == 4 and stats.accepted == 4
    trajectories = list(run_dir.trajectories())
    assert sorted(t["doc_id"] for t in trajectories) == ["doc0", "doc1", "doc2", "doc3"]
    # doc2 continued from its checkpoint: its challenger did not run again after the crash.
    challenger_prompts = [c["messages"][-1].content for c in provider.chat_model("challenger").calls]
    assert not any("Paper 2" in p for p in challenger_prompts)
    assert any("Paper 3" in p for p in challenger_prompts)
    saved = json.loads(run_dir.file("stats.json").read_text())
    assert saved["accepted"] == 4 and saved["resumed"] == 2


async def test_rerunning_a_finished_run_changes_nothing(tmp_path):
    src = make_corpus(tmp_path, n=2)
    first, _, _ = await generate(tmp_path, src, script_for())
    run_dir = RunDirectory(tmp_path / "run")
    before = (run_dir.file("items.jsonl").read_text(), run_dir.file("trajectories.jsonl").read_text())
    stats, run_dir, provider = await generate(tmp_path, src, script_for())
    assert (run_dir.file("items.jsonl").read_text(), run_dir.file("trajectories.jsonl").read_text()) == before
    assert stats.resumed == 2 and stats.accepted == 2
    assert provider.chat_model("challenger").calls == []
    # The skipped documents count as they did the first time (rounds, rejections, usage).
    assert (stats.rounds, stats.rejections, stats.usage) == (first.rounds, first.rejections, first.usage)


def test_finished_documents_are_remembered_by_outcome_and_usage_not_by_their_whole_trajectory(tmp_path):
    generator = Generator(GenerateOptions(task="cs-research"), scripted_provider(script_for()), RunDirectory(tmp_path / "run"))
    row = {"id": "x", "status": "accepted", "usage": {"weak": {"calls": 4}}, "doc_id": "d",
           "rounds": [{"outcome": "too_easy", "attempts": [{"answer": "long " * 1000}]}, {"outcome": "accepted"}]}  # fmt: skip
    rounds = [{"outcome": outcome, "rule": None, "end_filter": None} for outcome in ("too_easy", "accepted")]
    assert generator.finished_summary(row) == {"status": "accepted", "usage": {"weak": {"calls": 4}}, "rounds": rounds}


async def test_torn_last_line_is_repaired_before_appending(tmp_path):
    src = make_corpus(tmp_path, n=2)
    _, run_dir, _ = await generate(tmp_path, src, script_for())
    lines = run_dir.file("trajectories.jsonl").read_text().splitlines()
    # Simulate a kill in the middle of writing doc1's trajectory row.
    run_dir.file("trajectories.jsonl").write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    stats, run_dir, _ = await generate(tmp_path, src, script_for())
    rows = list(run_dir.trajectories())
    assert len(rows) == 2 and len({r["id"] for r in rows}) == 2
    assert len(run_dir.items()) == 2  # the item row was already there: not written twice


async def test_near_duplicate_questions_are_dropped_and_counted(tmp_path):
    src = make_corpus(tmp_path, n=3)

    def same_question(role, messages, tool):
        if role == "challenger":
            return rubric_item("How does the proposed method handle long inputs under heavy load?")
        return GraphScript(items=[None])(role, messages, tool)

    stats, run_dir, _ = await generate(tmp_path, src, same_question, concurrency=1)
    assert stats.accepted == 1 and stats.near_duplicates == 2
    kept = run_dir.items()[0]["id"]
    dropped = [t for t in run_dir.trajectories() if t["status"] == "duplicate"]
    assert len(dropped) == 2 and {t["duplicate_of"] for t in dropped} == {kept}

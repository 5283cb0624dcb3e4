"""Checkpoints that do not grow with document size x steps: a document's text is stored once in the
run directory, its thread keeps one checkpoint, and a resumed document still sees its whole text."""

from __future__ import annotations

import hashlib
import sqlite3

from autodata.engine.document_store import DOCUMENTS_DIR
from autodata.engine.rundir import CHECKPOINTS, RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.state.schemas import SourceDocument
from tests.support.scripted import scripted_provider

POSITIVE, NEGATIVE = 7, 3
APPROVAL = {
    "passed": True, "reasons": [], "leakage": "OK", "question_quality": "GOOD", "rubric": "PASS",
    "rubric_issues": [], "type_matches": True, "feedback": "", "answer_leakage": False,
    "context_too_short": False, "rubric_malformed": False,
}  # fmt: skip
CONTEXT = " ".join(["The paper compares two regularisers trained together under one fixed budget."] * 4)


def paper(number: int) -> SourceDocument:
    text = "".join(f"Paper {number}, section {i}: the regulariser trades variance for bias. " for i in range(600))
    return SourceDocument(
        doc_id=f"paper-{number}", path=f"papers/{number}.md", title=f"Paper {number}", text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(), span=(0, len(text)), total_chars=len(text),
    )  # fmt: skip


class TooEasy:
    """Every round ends "too easy" (the weak solver meets every criterion); the challenger can be made to fail."""

    def __init__(self, fail_challenger_call: int | None = None) -> None:
        self.fail_challenger_call = fail_challenger_call
        self.challenger_prompts: list[str] = []

    def __call__(self, role, messages, tool):
        if role == "challenger":
            self.challenger_prompts.append("\n".join(str(m.content) for m in messages))
            if len(self.challenger_prompts) == self.fail_challenger_call:
                raise ConnectionError("the endpoint went away")
            criteria = [{"criterion": f"explains {i}", "weight": 1, "category": "positive"} for i in range(POSITIVE)]
            criteria += [{"criterion": f"errs {i}", "weight": -1, "category": "negative"} for i in range(NEGATIVE)]
            return {"context": CONTEXT, "question": "Why does the regulariser help?",
                    "reference_answer": "It trades variance for bias.", "rubric": criteria}  # fmt: skip
        if role == "judge":
            return {"verdicts": [True] * POSITIVE + [False] * NEGATIVE}
        if tool is not None:
            return APPROVAL
        return f"{role}: it trades variance for bias." if role in ("weak", "strong") else "Ask something harder."


async def generate(run_dir: RunDirectory, script: TooEasy, docs: list[SourceDocument], rounds: int = 3):
    provider = scripted_provider(script, transport_initial_wait=0.0)
    options = GenerateOptions(task="cs-research", samples=2, max_rounds=rounds, concurrency=2)
    return await Generator(options, provider, run_dir).run(docs)


def checkpoint_rows(run_dir: RunDirectory) -> list[tuple[str, bytes]]:
    with sqlite3.connect(run_dir.file(CHECKPOINTS)) as conn:
        rows = conn.execute("SELECT thread_id, checkpoint FROM checkpoints").fetchall()
        rows += conn.execute("SELECT thread_id, value FROM writes").fetchall()
    return rows


async def test_checkpoint_rows_hold_a_documents_text_at_most_once(tmp_path):
    docs = [paper(0), paper(1)]
    run_dir = RunDirectory(tmp_path / "run")
    stats = await generate(run_dir, TooEasy(), docs)
    assert stats.documents == 2 and stats.exhausted == 2 and stats.rounds == 6
    rows = checkpoint_rows(run_dir)
    for doc in docs:
        passage = doc.text[len(doc.text) // 2 :][:300].encode()  # names its paper: found only with that text
        assert sum(passage in bytes(blob or b"") for _, blob in rows) <= 1
        stored = run_dir.file(DOCUMENTS_DIR) / f"{hashlib.sha256(doc.text.encode()).hexdigest()}.txt"
        assert stored.read_text() == doc.text
    threads = [thread for thread, _ in rows]
    assert len(set(threads)) == 2 and len(rows) <= 2 * 4  # one checkpoint per thread and its few pending writes
    assert run_dir.file(CHECKPOINTS).stat().st_size < 2 * sum(len(doc.text) for doc in docs)


async def test_a_document_resumed_from_its_checkpoint_sees_its_whole_text(tmp_path):
    doc = paper(7)
    run_dir = RunDirectory(tmp_path / "run")
    failing = TooEasy(fail_challenger_call=2)  # round 2's challenger call fails: the document stops there
    first = await generate(run_dir, failing, [doc])
    assert first.failed == 1 and first.documents == 0
    resumed = TooEasy()
    second = await generate(run_dir, resumed, [doc])
    assert second.documents == 1 and second.rounds == 3 and second.failed == 0
    # The resumed thread started at round 2's challenger, with the document read back from documents/.
    assert len(resumed.challenger_prompts) == 2 and doc.text[-500:] in resumed.challenger_prompts[0]

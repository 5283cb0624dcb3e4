"""Bytes in `checkpoints.sqlite` per document, for a 100 KB document over 10 rounds.

The models are scripted in-process (no HTTP: only the checkpoints are measured) and never accept: the weak
solver meets every rubric criterion, so each round ends "too easy" and the document runs its whole round
budget. Target: at most twice the document plus what the rounds produce, measured as the document's
trajectory row (every round's item, answers, scores and feedback) in `trajectories.jsonl`.

Measured: the database file (after its write-ahead log is folded in at close) plus the document texts the
run directory keeps beside it (`documents/`, one file per document), against the target; the bytes of the
checkpoints, their metadata and pending writes left for each thread; how many of those rows hold the
document's text (at most one is the target; none when the text is kept in `documents/`).

    python benchmarks/checkpoint_size.py [--kb 100] [--rounds 10] [--documents 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autodata.engine.document_store import DOCUMENTS_DIR  # noqa: E402
from autodata.engine.rundir import CHECKPOINTS, TRAJECTORIES, RunDirectory  # noqa: E402
from autodata.tasks.runner import GenerateOptions, Generator  # noqa: E402
from autodata.state.schemas import SourceDocument  # noqa: E402
from benchmarks.throughput import APPROVAL, CONTEXT, NEGATIVE, POSITIVE, rubric  # noqa: E402
from tests.support.scripted import scripted_provider  # noqa: E402

_SENTENCE = "Section {n} of paper {d}: the regulariser trades variance for bias; table {n} measures how much. "


def never_accepts(role: str, messages: list[Any], tool: str | None) -> Any:
    """Every round ends "too easy": the weak solver meets every positive criterion and makes no mistake."""
    if role == "challenger":
        return {"context": CONTEXT, "question": "Why does the regulariser help here?",
                "reference_answer": "It trades variance for bias.", "rubric": rubric()}  # fmt: skip
    if role == "judge":
        return {"verdicts": [True] * POSITIVE + [False] * NEGATIVE}
    if tool is not None:  # quality verifier and end filter: the item is fine
        return APPROVAL
    if role in ("weak", "strong"):
        return f"The {role} solver's answer: it trades variance for bias, as the ablation shows."
    return "Ask about a different interaction between the regulariser and the data."


def large_document(number: int, kilobytes: int) -> SourceDocument:
    text, n = [], 0
    while sum(map(len, text)) < kilobytes * 1000:
        text.append(_SENTENCE.format(n=n, d=number))
        n += 1
    body = f"Document {number}. " + "".join(text)
    return SourceDocument(
        doc_id=f"large-{number}", path=f"bench/large-{number}.md", title=f"Large {number}", text=body,
        content_hash=hashlib.sha256(body.encode()).hexdigest(), span=(0, len(body)), total_chars=len(body),
    )  # fmt: skip


@dataclass
class CheckpointSize:
    document_bytes: int
    rounds: int
    documents: int
    file_bytes_per_document: int  # checkpoints.sqlite on disk, write-ahead log folded in
    text_bytes_per_document: int  # documents/ beside it
    row_bytes_per_document: int  # checkpoints, metadata and pending writes of one thread
    rows_per_document: int
    rows_holding_the_text: int  # per document
    trajectory_row_bytes: int  # what the rounds produce (mean per document)
    seconds: float

    @property
    def target_bytes(self) -> int:
        return 2 * self.document_bytes + self.trajectory_row_bytes

    @property
    def stored_bytes_per_document(self) -> int:
        return self.file_bytes_per_document + self.text_bytes_per_document

    @property
    def met(self) -> bool:
        return self.stored_bytes_per_document <= self.target_bytes

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target_bytes": self.target_bytes, "met": self.met}


def _thread_rows(database: Path, marker: str) -> tuple[int, int, int, int]:
    """(threads, payload bytes, rows, rows containing `marker`) over every thread in the database."""
    needle = marker.encode()
    with sqlite3.connect(database) as conn:
        threads = conn.execute("SELECT COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
        rows = conn.execute("SELECT checkpoint, metadata FROM checkpoints").fetchall()
        rows += conn.execute("SELECT value, NULL FROM writes").fetchall()
    payload = sum(len(blob or b"") + len(meta or b"") for blob, meta in rows)
    holding = sum(1 for blob, meta in rows if needle in bytes(blob or b"") or needle in bytes(meta or b""))
    return threads, payload, len(rows), holding


def measure(kilobytes: int = 100, rounds: int = 10, n_docs: int = 2) -> CheckpointSize:
    docs = [large_document(i, kilobytes) for i in range(n_docs)]
    provider = scripted_provider(never_accepts)
    options = GenerateOptions(task="cs-research", samples=4, max_rounds=rounds, concurrency=n_docs, run_id="ckpt")
    with tempfile.TemporaryDirectory(prefix="autodata-ckpt-") as tmp:
        run_dir = RunDirectory(Path(tmp) / "run")
        started = time.perf_counter()
        stats = asyncio.run(Generator(options, provider, run_dir).run(docs))
        seconds = time.perf_counter() - started
        if stats.documents != n_docs or stats.accepted:
            raise RuntimeError(f"expected {n_docs} documents that never accept, got {stats.as_dict()}")
        database = run_dir.file(CHECKPOINTS)
        file_bytes = database.stat().st_size
        texts = run_dir.file(DOCUMENTS_DIR)
        text_bytes = sum(path.stat().st_size for path in texts.iterdir()) if texts.exists() else 0
        # A passage from the middle of document 0 (each document's sentences name it): found only in rows
        # that store that document's text.
        marker = docs[0].text[len(docs[0].text) // 2 :][:200]
        threads, payload, row_count, holding = _thread_rows(database, marker)
        trajectory_bytes = len(run_dir.file(TRAJECTORIES).read_bytes())
    return CheckpointSize(
        document_bytes=len(docs[0].text.encode()), rounds=rounds, documents=n_docs,
        file_bytes_per_document=file_bytes // n_docs, text_bytes_per_document=text_bytes // n_docs,
        row_bytes_per_document=payload // threads,
        rows_per_document=row_count // threads, rows_holding_the_text=holding,
        trajectory_row_bytes=trajectory_bytes // n_docs, seconds=round(seconds, 1),
    )  # fmt: skip


def report(result: CheckpointSize) -> str:
    kb = 1000
    return (
        f"{result.document_bytes / kb:.0f} KB document, {result.rounds} rounds, {result.documents} documents: "
        f"checkpoints.sqlite {result.file_bytes_per_document / kb:,.0f} KB + documents/ "
        f"{result.text_bytes_per_document / kb:,.0f} KB per document ({result.rows_per_document} rows left, "
        f"{result.row_bytes_per_document / kb:,.0f} KB of payload; {result.rows_holding_the_text} rows hold the "
        f"document's text)\n"
        f"    target <= 2 x document + trajectory row ({result.trajectory_row_bytes / kb:,.0f} KB) = "
        f"{result.target_bytes / kb:,.0f} KB: {'MET' if result.met else 'MISSED'} "
        f"({result.stored_bytes_per_document / result.target_bytes:.2f}x the target; run took {result.seconds:.0f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=int, default=100, help="document size in KB")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--documents", "-n", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.kb, args.rounds, args.documents)
    print(json.dumps(result.as_dict()) if args.json else report(result))


if __name__ == "__main__":
    main()

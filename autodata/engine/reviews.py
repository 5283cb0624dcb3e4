"""The run directory's review files: the items waiting for a person, and the decisions taken on them.

A thread that pauses for review (`generate --review`) is listed in `awaiting_review.jsonl` with its pause's id
and what the reviewer sees. `autodata review` appends each decision to `reviews.jsonl` (fsynced, one line, so a
kill -9 loses at most a torn last line, which is skipped and never glued to the next row), keyed by
(item id, pause id): a second decision on the same pause is refused, so a decision is written once. The next
`generate` resumes a thread with the decision whose pause is the one the thread waits at; a decision whose
thread has moved past its pause is not applied, and a note says so (rows with "ignored" instead of "decision");
a decision is marked "applied" as the thread is resumed with it, so it is never taken for a stale one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autodata.engine.rundir import append_jsonl, read_jsonl

REVIEWS = "reviews.jsonl"
AWAITING = "awaiting_review.jsonl"


class ReviewLogError(ValueError):
    """A decision that cannot be recorded (unknown item, already decided); the message says which."""


@dataclass(frozen=True)
class Pause:
    """One thread waiting at one pause: the item's id, its document, the pause's id and the reviewer's view."""

    item_id: str
    doc_id: str
    pause_id: str
    payload: dict[str, Any]


class ReviewLog:
    """The review files of one run directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def reviews_path(self) -> Path:
        return self.directory / REVIEWS

    @property
    def awaiting_path(self) -> Path:
        return self.directory / AWAITING

    def _rows(self) -> Iterator[dict[str, Any]]:
        return (row for row in read_jsonl(self.reviews_path) if isinstance(row, dict))

    def decisions(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The first decision recorded for each (item id, pause id)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self._rows():
            if "decision" in row:
                found.setdefault((str(row.get("id")), str(row.get("pause_id"))), row)
        return found

    def _marked(self, mark: str) -> set[tuple[str, str]]:
        return {(str(row.get("id")), str(row.get("pause_id"))) for row in self._rows() if mark in row}

    def ignored(self) -> set[tuple[str, str]]:
        return self._marked("ignored")

    def applied(self) -> set[tuple[str, str]]:
        return self._marked("applied")

    def note_applied(self, item_id: str, pause_id: str) -> None:
        """Mark a decision as the one its thread is resumed with (before resuming: a kill after this mark but
        before the thread's next checkpoint leaves the thread at the pause, and the decision is applied then)."""
        if (item_id, pause_id) not in self.applied():
            append_jsonl(self.reviews_path, {"id": item_id, "pause_id": pause_id, "applied": True})

    def decision_for(self, item_id: str, pause_id: str) -> dict[str, Any] | None:
        """The decision to resume the thread with: what the reviewer answered, as the review node reads it."""
        row = self.decisions().get((item_id, pause_id))
        if row is None:
            return None
        keys = ("decision", "reason", "edits", "reviewer", "at")
        return {key: row[key] for key in keys if row.get(key) not in (None, "", {})}

    def note_ignored(self, item_id: str, pause_id: str, why: str) -> None:
        if (item_id, pause_id) not in self.ignored():
            append_jsonl(self.reviews_path, {"id": item_id, "pause_id": pause_id, "ignored": why})

    def note_stale_decisions(self, item_id: str, current_pause: str | None) -> None:
        """Record, once, each decision on `item_id` whose pause is not the one the thread waits at now, and
        that was never applied."""
        applied = self.applied()
        for decided_id, pause_id in self.decisions():
            if decided_id == item_id and pause_id != current_pause and (item_id, pause_id) not in applied:
                self.note_ignored(item_id, pause_id, "the thread had already moved past this pause; not applied")

    def record_pause(self, pause: Pause) -> None:
        """List a waiting thread (once per pause)."""
        if any((p.item_id, p.pause_id) == (pause.item_id, pause.pause_id) for p in self._pauses()):
            return
        row = {"id": pause.item_id, "doc_id": pause.doc_id, "pause_id": pause.pause_id, "payload": pause.payload}
        append_jsonl(self.awaiting_path, row)

    def _pauses(self) -> list[Pause]:
        return [
            Pause(str(row.get("id")), str(row.get("doc_id")), str(row.get("pause_id")), row.get("payload") or {})
            for row in read_jsonl(self.awaiting_path)
            if isinstance(row, dict)
        ]

    def waiting(self) -> list[Pause]:
        """The pauses still waiting for a decision: each item's latest pause, when nobody decided on it yet."""
        latest: dict[str, Pause] = {}
        for pause in self._pauses():
            latest.pop(pause.item_id, None)
            latest[pause.item_id] = pause
        decided = self.decisions()
        return [pause for pause in latest.values() if (pause.item_id, pause.pause_id) not in decided]

    def record_decision(self, item_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        """Append a decision on the item's waiting pause; refused when the item waits at none, or it is decided."""
        pauses = {pause.item_id: pause for pause in self._pauses()}
        waiting = {pause.item_id: pause for pause in self.waiting()}
        if item_id not in pauses:
            raise ReviewLogError(f"no item {item_id} has waited for review in {self.directory}")
        if item_id not in waiting:
            raise ReviewLogError(f"item {item_id} is already decided (see {REVIEWS})")
        row = {"id": item_id, "pause_id": waiting[item_id].pause_id, **decision}
        append_jsonl(self.reviews_path, row)
        return row

    def summary(self) -> dict[str, int]:
        """Decisions by kind, over the whole log."""
        counts = {"approve": 0, "edit": 0, "reject": 0}
        for row in self.decisions().values():
            counts[row["decision"]] = counts.get(row["decision"], 0) + 1
        return counts

"""The meta-optimizer's memory: a running summary of what it tried, read by the analyzer and the implementer.

One entry per finished iteration: the change (files and the implementer's one-line summary), its minibatch
screen and validation result, and whether it was kept. The rendered summary is capped in characters: the
newest entries stay in full, older ones are first shortened to one compact line each and, if that is not
enough, the oldest compact lines are merged into one aggregate line. Entries are stored whole in
`memory.json` in the run directory (and the rendered text in `memory.md` for people), written atomically, so a
resumed run reads what the killed one wrote.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from autodata.state.meta import IterationRecord

MEMORY_JSON = "memory.json"
MEMORY_MD = "memory.md"
DEFAULT_MEMORY_CHARS = 4_000
DESCRIPTION_CHARS = 300
COMPACT_DESCRIPTION_CHARS = 80
EMPTY_MEMORY = "(nothing tried yet: this is the first iteration)"


class MemoryEntry(BaseModel):
    iteration: int
    parent: str
    child: str | None = None
    status: str = Field(description="kept, discarded, screened_out, invalid or failed.")
    files: list[str] = Field(default_factory=list)
    description: str = Field("", description="The implementer's one-line summary of the change.")
    minibatch_parent: float | None = None
    minibatch_child: float | None = None
    validation_parent: float | None = None
    validation_child: float | None = None
    note: str = Field("", description="Why an edit was rejected or the iteration failed, when it was.")


def one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _rate(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _result(entry: MemoryEntry) -> str:
    parts = []
    if entry.minibatch_child is not None:
        parts.append(f"screen on the parent's failed documents {_rate(entry.minibatch_parent)} -> "
                     f"{_rate(entry.minibatch_child)}")
    if entry.validation_child is not None:
        parts.append(f"validation {_rate(entry.validation_parent)} -> {_rate(entry.validation_child)}")
    return "; ".join(parts)


def full_line(entry: MemoryEntry) -> str:
    files = ", ".join(entry.files) or "no file"
    line = f"- iteration {entry.iteration} ({entry.parent} -> {entry.child or 'no version'}): {entry.status.upper()}"
    line += f"; changed {files}"
    if entry.description:
        line += f": {one_line(entry.description, DESCRIPTION_CHARS)}"
    if result := _result(entry):
        line += f"; {result}"
    if entry.note:
        line += f"; note: {one_line(entry.note, DESCRIPTION_CHARS)}"
    return line


def compact_line(entry: MemoryEntry) -> str:
    line = f"- it {entry.iteration} {entry.status}: {', '.join(entry.files) or '-'}"
    if entry.description:
        line += f": {one_line(entry.description, COMPACT_DESCRIPTION_CHARS)}"
    if entry.validation_child is not None:
        line += f" [val {_rate(entry.validation_parent)}->{_rate(entry.validation_child)}]"
    return line


def aggregate_line(entries: Sequence[MemoryEntry]) -> str:
    statuses = Counter(entry.status for entry in entries)
    files = Counter(file for entry in entries for file in entry.files)
    counted = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    touched = ", ".join(f"{file} x{count}" for file, count in files.most_common(4)) or "none"
    first, last = entries[0].iteration, entries[-1].iteration
    return f"- iterations {first}-{last} (summarised): {counted}; files changed: {touched}"


def render_memory(entries: Sequence[MemoryEntry], max_chars: int = DEFAULT_MEMORY_CHARS) -> str:
    """The summary the analyzer and implementer read, at most `max_chars` when the newest entry fits."""
    if not entries:
        return EMPTY_MEMORY
    ordered = sorted(entries, key=lambda e: e.iteration)
    merged = 0  # the oldest `merged` entries are one aggregate line
    compacted = 0  # then the next ones, up to `compacted`, are compact lines

    def text() -> str:
        lines = [aggregate_line(ordered[:merged])] if merged else []
        lines += [compact_line(e) for e in ordered[merged:compacted]]
        lines += [full_line(e) for e in ordered[max(merged, compacted):]]
        return "\n".join(lines)

    while len(text()) > max_chars and compacted < len(ordered) - 1:
        compacted += 1
    while len(text()) > max_chars and merged < len(ordered) - 1:
        merged += 1
        compacted = max(compacted, merged)
    return text()


class MetaMemory:
    """Memory entries of one run directory, persisted after every change."""

    def __init__(self, run_dir: str | Path, max_chars: int = DEFAULT_MEMORY_CHARS) -> None:
        self.run_dir = Path(run_dir)
        self.max_chars = max_chars
        self.entries: dict[int, MemoryEntry] = {}
        self._load()

    @property
    def json_path(self) -> Path:
        return self.run_dir / MEMORY_JSON

    def _load(self) -> None:
        if self.json_path.is_file():
            rows = json.loads(self.json_path.read_text(encoding="utf-8"))
            self.entries = {row["iteration"]: MemoryEntry.model_validate(row) for row in rows}

    def record(self, entry: MemoryEntry) -> None:
        """Add (or, for an iteration resumed and finished again, replace) an entry and persist."""
        self.entries[entry.iteration] = entry
        self.save()

    def replace_all(self, entries: Iterable[MemoryEntry]) -> None:
        self.entries = {entry.iteration: entry for entry in entries}
        self.save()

    def ordered(self) -> list[MemoryEntry]:
        return [self.entries[key] for key in sorted(self.entries)]

    def render(self, before_iteration: int | None = None) -> str:
        """What iterations before `before_iteration` (all, when None) tried."""
        entries = [e for e in self.ordered() if before_iteration is None or e.iteration < before_iteration]
        return render_memory(entries, self.max_chars)

    def discarded(self, before_iteration: int | None = None) -> list[MemoryEntry]:
        return [
            e for e in self.ordered()
            if e.status != "kept" and e.files and (before_iteration is None or e.iteration < before_iteration)
        ]  # fmt: skip

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        rows = [entry.model_dump(mode="json") for entry in self.ordered()]
        _write_atomic(self.json_path, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
        _write_atomic(self.run_dir / MEMORY_MD, "# What the optimizer tried\n\n" + self.render() + "\n")


def _write_atomic(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def memory_entry(record: IterationRecord) -> MemoryEntry:
    """What one finished iteration contributes to the memory."""
    rejected = "; ".join(f"{edit.file}: {edit.reason}" for edit in record.rejected_edits)
    files = record.files_changed or sorted({edit.file for edit in record.rejected_edits if edit.file != "(none)"})
    screen = record.screen
    return MemoryEntry(
        iteration=record.iteration, parent=record.parent, child=record.child, status=record.status, files=files,
        description=record.summary,
        # The screen runs on documents the parent failed: its parent rate there is 0 by construction.
        minibatch_parent=0.0 if screen else None,
        minibatch_child=screen.pass_rate if screen else None,
        # Means over the validation repeats, as the keep decision compared them.
        validation_parent=record.decision.parent_mean if record.decision else None,
        validation_child=record.decision.child_mean if record.decision else None,
        note=record.error or (f"rejected edits: {rejected}" if rejected else ""),
    )  # fmt: skip


def memory_entries(records: Iterable[IterationRecord]) -> list[MemoryEntry]:
    return [memory_entry(record) for record in sorted(records, key=lambda r: r.iteration)]

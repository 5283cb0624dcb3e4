"""Grounding examples for science challengers: a few other problem rows of the seed's own JSONL file.

A problem row's document path is `FILE#L<line>` (autodata.engine.corpus). Rows of the same dataset as the seed are
preferred (same level and answer format), the ones after the seed first, wrapping round to the start. The
file is streamed in bounded lines and at most a few rows are held, so a large file (or row) costs no memory;
a row the corpus would refuse as a problem (wrong types, empty) is never an example.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from autodata.engine.corpus import answer_text, bounded_lines, row_problem

_ROW_PATH = re.compile(r"^(?P<file>.+)#L(?P<line>\d+)$")
_MAX_EXAMPLE_CHARS = 1200
_MAX_ROW_BYTES = 1 << 20  # a longer row is skipped unread, never held


def _row_text(row: dict) -> str:
    text = f"Problem: {row['question'].strip()}\nAnswer: {answer_text(row['answer'])}"
    return text[:_MAX_EXAMPLE_CHARS]


def _usable(raw: bytes | int) -> dict | None:
    """The row on a line, when it is a problem the corpus would accept as one (the same checks)."""
    if isinstance(raw, int):  # over _MAX_ROW_BYTES
        return None
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return None if row_problem(row) else row


def grounding_rows(document_path: str, dataset: str, limit: int) -> list[str]:
    """Up to `limit` other rows of the file `document_path` points into; [] when it is not a problem row."""
    match = _ROW_PATH.match(document_path)
    if limit <= 0 or match is None:
        return []
    path, seed_line = Path(match["file"]), int(match["line"])
    if not path.is_file():
        return []
    # (same dataset?, after the seed?) -> rows, each bucket capped at `limit`
    buckets: dict[tuple[bool, bool], list[str]] = {(s, a): [] for s in (True, False) for a in (True, False)}
    with path.open("rb") as fh:
        for lineno, raw in bounded_lines(fh, _MAX_ROW_BYTES):
            if lineno == seed_line or (isinstance(raw, bytes) and not raw.strip()):
                continue
            row = _usable(raw)
            if row is None:
                continue
            same = str(row.get("dataset") or row.get("source") or "") == dataset
            bucket = buckets[(same, lineno > seed_line)]
            if len(bucket) < limit:
                bucket.append(_row_text(row))
    ordered = [*buckets[(True, True)], *buckets[(True, False)], *buckets[(False, True)], *buckets[(False, False)]]
    return ordered[:limit]

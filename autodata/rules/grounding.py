"""Grounding examples for science challengers: a few other problem rows of the seed's own JSONL file.

A problem row's document path is `FILE#L<line>` (autodata.engine.corpus). Rows of the same dataset as the seed are
preferred (same level and answer format), the ones after the seed first, wrapping round to the start. The
file is streamed and at most a few rows are held, so a large file costs no memory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_ROW_PATH = re.compile(r"^(?P<file>.+)#L(?P<line>\d+)$")
_MAX_EXAMPLE_CHARS = 1200


def _row_text(row: dict) -> str:
    text = f"Problem: {str(row['question']).strip()}\nAnswer: {str(row['answer']).strip()}"
    return text[:_MAX_EXAMPLE_CHARS]


def _usable(raw: bytes) -> dict | None:
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(row, dict) or not str(row.get("question", "")).strip() or "answer" not in row:
        return None
    return row


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
        for lineno, raw in enumerate(fh, start=1):
            if lineno == seed_line or not raw.strip():
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

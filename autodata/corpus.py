"""Reading sources: a folder (or file) of `.md`/`.txt` documents, or a JSONL file of problems.

Documents are streamed one at a time, so memory stays flat however large the corpus is. A document that
cannot be used yields a `DocumentError` with a clear reason instead of stopping the batch.

Chunking policy: a document longer than `max_chars` is split at paragraph boundaries (then at sentence or
hard boundaries for giant paragraphs) into spans of at most `max_chars`; the challenger sees one span,
chosen by the seed (seed 0 -> the first span), and the span's offsets are kept as provenance.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from state.schemas import SourceDocument

TEXT_SUFFIXES = (".md", ".txt", ".markdown")
JSONL_SUFFIXES = (".jsonl",)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class DocumentError:
    doc_id: str
    path: str
    reason: str


class SourcesError(ValueError):
    """The sources argument itself is unusable (missing path, nothing readable in it)."""


def _doc_id(path: Path, root: Path) -> str:
    rel = path.relative_to(root) if root in path.parents else Path(path.name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(rel.with_suffix("")))


def _title_of(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:160]
    return ""


def split_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """[start, end) spans of at most max_chars, cut at paragraph boundaries where possible."""
    if len(text) <= max_chars:
        return [(0, len(text))]
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_chars)
        if end < len(text):
            window = text[start:end]
            breaks = [m.end() for m in _PARAGRAPH_BREAK.finditer(window)]
            cut = breaks[-1] if breaks and breaks[-1] > max_chars // 3 else window.rfind(". ") + 2
            if cut > max_chars // 3:
                end = start + cut
        spans.append((start, end))
        start = end
    return spans


def _select_span(text: str, max_chars: int, seed: int) -> tuple[int, int]:
    spans = split_spans(text, max_chars)
    return spans[seed % len(spans)]


def _decode(path: Path, raw: bytes) -> str | DocumentError:
    doc_id = path.stem
    if not raw.strip():
        return DocumentError(doc_id, str(path), "empty file")
    if b"\x00" in raw[:8192]:
        return DocumentError(doc_id, str(path), "binary file (contains NUL bytes), not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DocumentError(doc_id, str(path), f"invalid UTF-8 at byte {exc.start}: {exc.reason}")


def read_text_document(path: Path, root: Path, max_chars: int, seed: int = 0) -> SourceDocument | DocumentError:
    doc_id = _doc_id(path, root)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return DocumentError(doc_id, str(path), f"cannot read: {exc.strerror or exc}")
    decoded = _decode(path, raw)
    if isinstance(decoded, DocumentError):
        return DocumentError(doc_id, decoded.path, decoded.reason)
    text = decoded.replace("\r\n", "\n")
    if not text.strip():
        return DocumentError(doc_id, str(path), "no text after decoding (whitespace only)")
    start, end = _select_span(text, max_chars, seed)
    return SourceDocument(
        doc_id=doc_id,
        path=str(path),
        title=_title_of(text),
        text=text[start:end],
        content_hash=hashlib.sha256(raw).hexdigest(),
        span=(start, end),
        total_chars=len(text),
    )


def _problem_text(row: dict) -> str:
    parts = [f"Problem: {row['question'].strip()}"]
    if row.get("solution"):
        parts.append(f"Worked solution: {str(row['solution']).strip()}")
    parts.append(f"Answer: {str(row['answer']).strip()}" + (f" ({row['unit']})" if row.get("unit") else ""))
    return "\n".join(parts)


def iter_jsonl_problems(path: Path, max_chars: int) -> Iterator[SourceDocument | DocumentError]:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            doc_id, where = f"{stem}-L{lineno}", f"{path}#L{lineno}"
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield DocumentError(doc_id, where, f"invalid UTF-8 at byte {exc.start}")
                continue
            except json.JSONDecodeError as exc:
                yield DocumentError(doc_id, where, f"malformed JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(row, dict) or not str(row.get("question", "")).strip() or "answer" not in row:
                yield DocumentError(doc_id, where, "a problem row needs non-empty 'question' and 'answer' fields")
                continue
            text = _problem_text(row)[:max_chars]
            yield SourceDocument(
                doc_id=doc_id,
                path=where,
                title=str(row.get("dataset") or row.get("source") or stem)[:160],
                text=text,
                content_hash=hashlib.sha256(raw.strip()).hexdigest(),
                span=(0, len(text)),
                total_chars=len(text),
                reference_answer=str(row["answer"]),
            )


def iter_documents(sources: str | Path, max_chars: int, seed: int = 0) -> Iterator[SourceDocument | DocumentError]:
    """Every usable document under `sources`, in a stable (sorted) order; unusable ones as errors.

    The sources path itself is checked now (SourcesError); documents are read lazily, one at a time.
    """
    files, base = _source_files(Path(sources))
    return _read_all(files, base, max_chars, seed)


def _source_files(root: Path) -> tuple[list[Path], Path]:
    if not root.exists():
        raise SourcesError(f"sources path does not exist: {root}")
    if root.is_file():
        files, base = [root], root.parent
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES)
        base = root
        if not files:
            raise SourcesError(f"no .md, .txt or .jsonl files under {root}")
    return files, base


def _read_all(files: list[Path], base: Path, max_chars: int, seed: int) -> Iterator[SourceDocument | DocumentError]:
    for path in files:
        if path.suffix.lower() in JSONL_SUFFIXES:
            yield from iter_jsonl_problems(path, max_chars)
        elif path.suffix.lower() in TEXT_SUFFIXES:
            yield read_text_document(path, base, max_chars, seed)
        else:
            yield DocumentError(path.stem, str(path), f"unsupported file type {path.suffix!r}; use .md, .txt or .jsonl")

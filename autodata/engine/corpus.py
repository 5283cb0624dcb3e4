"""Reading sources: a folder (or file) of `.md`/`.txt` documents, or a JSONL file of problems.

Documents are streamed one at a time, so memory stays flat however large the corpus is. A document that
cannot be used yields a `DocumentError` with a clear reason instead of stopping the batch; so does an entry
of the sources folder that cannot be followed (a dangling symlink, a symlink to a directory, a FIFO).

Chunking policy: `max_chars` is the challenger's reading budget (settings `max_source_chars`: a whole paper
on a remote model, a few thousand characters on the embedded one). A document within it is one span, read
whole; only a longer one is split at paragraph boundaries (then at sentence or hard boundaries for giant
paragraphs) into spans of at most `max_chars`, and the challenger sees one span, chosen by the seed (seed 0 ->
the first span). The span's offsets are kept as provenance. A JSONL problem is never cut: one longer than
`max_chars` is an error, since cutting it would lose its answer.

Every JSONL row is checked on the way in (`row_problem`: types, non-empty, size): a row that is not a usable
problem is a DocumentError naming its line, and the rows after it are still read. Lines are read at most
`max_row_bytes` at a time, so a giant row is skipped in bounded pieces instead of being held. Document ids
are distinct across the sources (`_unique_ids`), so every bad input gets its own errors.jsonl row.

Memory: a text file is read once as bytes and decoded in pieces of `_CHUNK_BYTES`; the spans, the title and
the character count are computed as the pieces go by, so only the bytes, one piece and the chosen span are
held (well under twice the file's size; see benchmarks/corpus_memory.py).
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import itertools
import json
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from autodata.state.schemas import SourceDocument

TEXT_SUFFIXES = (".md", ".txt", ".markdown")
JSONL_SUFFIXES = (".jsonl",)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# The characters str.splitlines() ends a line at ("\r\n" counts as two breaks here: the empty line between is
# blank, and blank lines never give a title).
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_TITLE_CHARS = 160
_CHUNK_BYTES = 1 << 18
_BINARY_SNIFF_BYTES = 8192
_SKIP_BYTES = 1 << 16  # the piece an over-long JSONL row is skipped in
_ROW_ID = re.compile(r"(.+)-L[0-9]+")


@dataclass(frozen=True)
class DocumentError:
    doc_id: str
    path: str
    reason: str


class SourcesError(ValueError):
    """The sources argument itself is unusable (missing path, nothing readable in it)."""


@dataclass(frozen=True)
class _Entry:
    """A path under the sources; `problem` says why it cannot be read (None: a regular file to read)."""

    path: Path
    problem: str | None = None


def _clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _relative(path: Path, root: Path) -> Path:
    return path.relative_to(root) if root in path.parents else Path(path.name)


def _doc_id(path: Path, root: Path) -> str:
    return _clean(str(_relative(path, root).with_suffix("")))


def _is_problem_file(entry: _Entry) -> bool:
    return entry.problem is None and entry.path.suffix.lower() in JSONL_SUFFIXES


def _plain_id(entry: _Entry, root: Path) -> str:
    """A document's id, or a problem file's row-id prefix (its rows are `<prefix>-L<line>`), before collisions."""
    return _clean(entry.path.stem) if _is_problem_file(entry) else _doc_id(entry.path, root)


def _unique_ids(entries: list[_Entry], root: Path) -> dict[Path, str]:
    """Each entry's id (a problem file's: its row-id prefix), distinct across the sources.

    The plain id is the cleaned relative path without its suffix, so `x.md` and `x.txt`, or `a b.md` and
    `a_b.md`, would share one (and so would a text file named like a problem row, `p-L3.md` next to
    `p.jsonl`). Entries whose plain ids clash all get a hash of their relative path appended after `~`, a
    character no plain id contains; every other id stays as it was, so resumed runs keep their item ids.
    """
    plain = {entry.path: _plain_id(entry, root) for entry in entries}
    counts = Counter(plain.values())
    prefixes = {plain[entry.path] for entry in entries if _is_problem_file(entry)}
    row_like = {entry.path: match.group(1) for entry in entries
                if not _is_problem_file(entry) and (match := _ROW_ID.fullmatch(plain[entry.path]))
                and match.group(1) in prefixes}  # fmt: skip
    claimed = set(row_like.values())

    def clashes(entry: _Entry) -> bool:
        own = plain[entry.path]
        return counts[own] > 1 or entry.path in row_like or (_is_problem_file(entry) and own in claimed)

    return {
        entry.path: f"{plain[entry.path]}~{_path_hash(entry.path, root)}" if clashes(entry) else plain[entry.path]
        for entry in entries
    }


def _path_hash(path: Path, root: Path) -> str:
    return hashlib.sha256(_relative(path, root).as_posix().encode()).hexdigest()[:8]


def _span_length(window: str, max_chars: int) -> int:
    """How much of `window` (the next max_chars characters, with more text after them) the next span takes."""
    breaks = [m.end() for m in _PARAGRAPH_BREAK.finditer(window)]
    cut = breaks[-1] if breaks and breaks[-1] > max_chars // 3 else window.rfind(". ") + 2
    return cut if cut > max_chars // 3 else max_chars


def _iter_spans(pieces: Iterable[str], max_chars: int) -> Iterator[tuple[int, int, str]]:
    """(start, end, text) of each span of the text given in consecutive pieces, as `split_spans` cuts it."""
    pending, start = "", 0  # pending = text[start:], as far as it has arrived
    for piece in pieces:
        pending += piece
        offset = 0
        while len(pending) - offset > max_chars:
            window = pending[offset : offset + max_chars]
            length = _span_length(window, max_chars)
            yield start, start + length, window[:length]
            offset, start = offset + length, start + length
        pending = pending[offset:]
    yield start, start + len(pending), pending


def split_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """[start, end) spans of at most max_chars, cut at paragraph boundaries where possible."""
    return [(start, end) for start, end, _ in _iter_spans((text,), max_chars)]


class _TitleLine:
    """One line, fed in parts, reduced to what its title needs: `line.strip().lstrip("#").strip()[:160]`.

    Holds at most 160 characters however long the line is: the leading whitespace, '#' marks and whitespace
    are dropped as they arrive, then the first 160 characters are kept, plus whether any non-whitespace
    follows them (if none does, trailing whitespace inside the 160 is stripped too).
    """

    _LEADING = (None, "#", None)  # what each leading phase strips, in order; phase 3 is the content

    def __init__(self) -> None:
        self.phase, self.head, self.text_after_head = 0, "", False

    def extend(self, part: str) -> None:
        while self.phase < len(self._LEADING) and part:
            rest = part.lstrip(self._LEADING[self.phase])
            if not rest:
                return
            part, self.phase = rest, self.phase + 1
        room = _TITLE_CHARS - len(self.head)
        self.head += part[:room]
        if not self.text_after_head and len(part) > room and not part[room:].isspace():
            self.text_after_head = True

    def title(self) -> str:
        if self.phase < len(self._LEADING):
            return ""
        return self.head if self.text_after_head else self.head.rstrip()


@dataclass
class _TextScan:
    """What one pass over a document's text learns besides its spans: length, title, whether it has text."""

    chars: int = 0
    has_text: bool = False
    title: str | None = None
    _line: _TitleLine = field(default_factory=_TitleLine)

    def observe(self, pieces: Iterable[str]) -> Iterator[str]:
        for piece in pieces:
            self.chars += len(piece)
            self.has_text = self.has_text or (bool(piece) and not piece.isspace())
            if self.title is None:
                self._find_title(piece)
            yield piece
        if self.title is None:
            self.title = self._line.title()

    def _find_title(self, piece: str) -> None:
        position = 0
        for line_break in _LINE_BREAK.finditer(piece):
            self._line.extend(piece[position : line_break.start()])
            if title := self._line.title():
                self.title = title
                return
            self._line, position = _TitleLine(), line_break.end()
        self._line.extend(piece[position:])


def _text_pieces(raw: bytes) -> Iterator[str]:
    """The UTF-8 text of `raw` in pieces, with "\\r\\n" turned into "\\n" exactly as on the whole text.

    Raises UnicodeDecodeError whose `start` is the offset of the bad byte in `raw`.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    view, held_cr = memoryview(raw), ""
    for offset in range(0, len(raw), _CHUNK_BYTES):
        buffered = len(decoder.getstate()[0])
        try:
            piece = decoder.decode(view[offset : offset + _CHUNK_BYTES], offset + _CHUNK_BYTES >= len(raw))
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError("utf-8", raw, offset - buffered + exc.start, offset - buffered + exc.end,
                                     exc.reason) from None  # fmt: skip
        piece = held_cr + piece
        held_cr = "\r" if piece.endswith("\r") else ""  # it may start a "\r\n" split across two pieces
        yield piece[: len(piece) - len(held_cr)].replace("\r\n", "\n")
    if held_cr:
        yield held_cr


def _unusable_bytes(raw: bytes) -> str | None:
    if not raw or raw.isspace():
        return "empty file"
    if raw.find(b"\x00", 0, _BINARY_SNIFF_BYTES) != -1:
        return "binary file (contains NUL bytes), not text"
    return None


def read_text_document(
    path: Path, root: Path, max_chars: int, seed: int = 0, doc_id: str | None = None
) -> SourceDocument | DocumentError:
    doc_id = doc_id or _doc_id(path, root)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return DocumentError(doc_id, str(path), f"cannot read: {exc.strerror or exc}")
    if problem := _unusable_bytes(raw):
        return DocumentError(doc_id, str(path), problem)
    scan = _TextScan()
    spans = 0
    chosen: tuple[int, int, str] | None = None
    try:
        for index, span in enumerate(_iter_spans(scan.observe(_text_pieces(raw)), max_chars)):
            spans += 1
            if index == seed:
                chosen = span
    except UnicodeDecodeError as exc:
        return DocumentError(doc_id, str(path), f"invalid UTF-8 at byte {exc.start}: {exc.reason}")
    if not scan.has_text:
        return DocumentError(doc_id, str(path), "no text after decoding (whitespace only)")
    if chosen is None:  # the seed wraps around: a second pass, now that the number of spans is known
        chosen = next(itertools.islice(_iter_spans(_text_pieces(raw), max_chars), seed % spans, None))
    start, end, text = chosen
    return SourceDocument(
        doc_id=doc_id,
        path=str(path),
        title=scan.title or "",
        text=text,
        content_hash=hashlib.sha256(raw).hexdigest(),
        span=(start, end),
        total_chars=scan.chars,
    )


def _problem_text(row: dict) -> str:
    parts = [f"Problem: {row['question'].strip()}"]
    if row.get("solution"):
        parts.append(f"Worked solution: {row['solution'].strip()}")
    parts.append(f"Answer: {answer_text(row['answer'])}" + (f" ({row['unit'].strip()})" if row.get("unit") else ""))
    return "\n".join(parts)


def answer_text(value: str | int | float) -> str:
    """A validated answer as the reference answer: a string stripped, a number as its digits."""
    return value.strip() if isinstance(value, str) else str(value)


def max_row_bytes(max_chars: int) -> int:
    """The longest JSONL row read: room for a problem text of `max_chars` characters written with JSON's
    longest escapes (6 bytes a character), plus 64 KiB for the other fields."""
    return 6 * max_chars + 65_536


def row_problem(row: object) -> str | None:
    """Why a parsed JSONL row is not a usable problem; None when it is."""
    if not isinstance(row, dict):
        return f"a problem row must be a JSON object, not {_json_type(row)}"
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        return f"'question' must be a non-empty string, not {_described(question, 'question' in row)}"
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        return f"'answer' must be a non-empty string or a number, not {_described(answer, 'answer' in row)}"
    if isinstance(answer, float) and not math.isfinite(answer):
        return f"'answer' must be a finite number, not {answer}"
    if isinstance(answer, str) and not answer.strip():
        return "'answer' must be a non-empty string or a number, not an empty string"
    for key in ("solution", "unit", "dataset", "source"):
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"'{key}' must be a string when given, not {_json_type(row[key])}"
    return None


def _described(value: object, present: bool) -> str:
    if not present:
        return "missing"
    if isinstance(value, str):
        return "an empty string"
    return _json_type(value)


def _json_type(value: object) -> str:
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def bounded_lines(fh: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | int]]:
    """(line number, line) for each line of `fh`, or (line number, its size in bytes) for a line over `limit`
    bytes: such a line is skipped in bounded chunks, so memory stays near `limit` however long it is."""
    for lineno in itertools.count(1):
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield lineno, line
            continue
        size, line = len(line), b""  # released before the rest of the line is skipped
        while chunk := fh.readline(min(limit + 1, _SKIP_BYTES)):
            size += len(chunk)
            if chunk.endswith(b"\n"):
                break
        yield lineno, size


def iter_jsonl_problems(
    path: Path, max_chars: int, prefix: str | None = None
) -> Iterator[SourceDocument | DocumentError]:
    """The problems of a JSONL file, one row a line; a row that is not a usable problem (malformed, wrong
    types, empty, too long) is a DocumentError naming its line, and the rows after it are still read.
    Row ids are `<prefix>-L<line>` (prefix: the file's cleaned stem unless given)."""
    stem = _clean(path.stem)
    prefix = prefix or stem
    limit = max_row_bytes(max_chars)
    with path.open("rb") as fh:
        for lineno, raw in bounded_lines(fh, limit):
            doc_id, where = f"{prefix}-L{lineno}", f"{path}#L{lineno}"
            if isinstance(raw, int):
                yield DocumentError(doc_id, where, _row_too_large(path, lineno, raw, limit))
                continue
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
            except RecursionError:
                yield DocumentError(doc_id, where, "malformed JSON: nested too deeply")
                continue
            if problem := row_problem(row):
                yield DocumentError(doc_id, where, f"line {lineno}: {problem}")
                continue
            text = _problem_text(row)
            if len(text) > max_chars:
                yield DocumentError(doc_id, where, _too_long(path, lineno, len(text), max_chars))
                continue
            yield SourceDocument(
                doc_id=doc_id,
                path=where,
                title=(row.get("dataset") or row.get("source") or stem)[:160],
                text=text,
                content_hash=hashlib.sha256(raw.strip()).hexdigest(),
                span=(0, len(text)),
                total_chars=len(text),
                reference_answer=answer_text(row["answer"]),
            )


def _row_too_large(path: Path, lineno: int, size: int, limit: int) -> str:
    return (f"problem row too large: {path} line {lineno} is {size:,} bytes, over the {limit:,}-byte row limit "
            "(6 bytes per character of max_source_chars, plus 64 KiB); it was skipped unread: shorten the row "
            "or raise max_source_chars")  # fmt: skip


def _too_long(path: Path, lineno: int, chars: int, max_chars: int) -> str:
    return (f"problem row too long: {path} line {lineno} makes a {chars}-character problem text, over the span "
            f"budget of {max_chars} characters (max_source_chars); a problem is never cut, as that would lose "
            "its answer: shorten the row or raise max_source_chars")  # fmt: skip


def iter_documents(sources: str | Path, max_chars: int, seed: int = 0) -> Iterator[SourceDocument | DocumentError]:
    """Every usable document under `sources`, in a stable (sorted) order; unusable ones as errors.

    The sources path itself is checked now (SourcesError); documents are read lazily, one at a time.
    """
    entries, base = _source_entries(Path(sources))
    return _read_all(entries, base, max_chars, seed)


def _source_entries(root: Path) -> tuple[list[_Entry], Path]:
    if not root.exists():
        dangling = " (a dangling symlink)" if root.is_symlink() else ""
        raise SourcesError(f"sources path does not exist: {root}{dangling}")
    if root.is_file():
        return [_Entry(root)], root.parent
    entries = sorted(_walk(root), key=lambda entry: entry.path)
    if not any(entry.problem is None for entry in entries):
        raise SourcesError(f"no .md, .txt or .jsonl files under {root}{_skipped_note(entries)}")
    return entries, root


def _skipped_note(entries: list[_Entry]) -> str:
    if not entries:
        return ""
    shown = "; ".join(f"{entry.path}: {entry.problem}" for entry in entries[:3])
    more = f"; and {len(entries) - 3} more" if len(entries) > 3 else ""
    return f" (skipped {len(entries)} unreadable entr{'y' if len(entries) == 1 else 'ies'}: {shown}{more})"


def _is_source_name(name: str) -> bool:
    return Path(name).suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES


def _walk(root: Path) -> Iterator[_Entry]:
    """The documents under `root` and, as problems, every entry that should be one but cannot be read.

    Symlinks to files are followed; symlinks to directories are not (as before), but are now reported.
    """
    unlistable: list[OSError] = []
    for folder, subfolders, names in os.walk(root, onerror=unlistable.append):
        for name in subfolders:
            if os.path.islink(os.path.join(folder, name)):
                target = os.readlink(os.path.join(folder, name))
                yield _Entry(Path(folder, name), f"symlink to a directory ({target}); its files are not read")
        for name in names:
            if entry := _file_entry(Path(folder, name)):
                yield entry
    for exc in unlistable:
        yield _Entry(Path(exc.filename), f"cannot list directory: {exc.strerror or exc}")


def _file_entry(path: Path) -> _Entry | None:
    """A non-directory entry: a document, a problem, or None for names that are not sources."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if not path.is_symlink():
            return _Entry(path, f"cannot read: {exc.strerror or exc}") if _is_source_name(path.name) else None
        if path.suffix and not _is_source_name(path.name):
            return None
        why = "a symlink loop" if exc.errno == errno.ELOOP else "missing"
        return _Entry(path, f"dangling symlink (its target {os.readlink(path)} is {why})")
    if not _is_source_name(path.name):
        return None
    if not stat.S_ISREG(mode):
        return _Entry(path, "not a regular file (a FIFO, socket or device), not read")
    return _Entry(path)


def _read_all(entries: list[_Entry], base: Path, max_chars: int, seed: int) -> Iterator[SourceDocument | DocumentError]:
    ids = _unique_ids(entries, base)
    for entry in entries:
        path, doc_id = entry.path, ids[entry.path]
        if entry.problem is not None:
            yield DocumentError(doc_id, str(path), entry.problem)
        elif path.suffix.lower() in JSONL_SUFFIXES:
            yield from iter_jsonl_problems(path, max_chars, prefix=doc_id)
        elif path.suffix.lower() in TEXT_SUFFIXES:
            yield read_text_document(path, base, max_chars, seed, doc_id=doc_id)
        else:
            yield DocumentError(doc_id, str(path), f"unsupported file type {path.suffix!r}; use .md, .txt or .jsonl")

"""Streamed reading of text documents: the same ids, hashes, spans and titles as reading the whole text at
once (item ids depend on them), whatever the piece boundaries, and a peak memory under twice the file."""

import hashlib
import random
import tracemalloc
from pathlib import Path

import pytest

from autodata.engine import corpus
from autodata.engine.corpus import DocumentError, read_text_document, split_spans


def whole_text_reading(raw: bytes, max_chars: int, seed: int) -> dict | str:
    """How documents were read before streaming: decode everything, normalise, split, pick; the reference."""
    if not raw.strip():
        return "empty file"
    if b"\x00" in raw[:8192]:
        return "binary file (contains NUL bytes), not text"
    try:
        text = raw.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}: {exc.reason}"
    if not text.strip():
        return "no text after decoding (whitespace only)"
    title = ""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            title = line[:160]
            break
    spans = split_spans(text, max_chars)
    start, end = spans[seed % len(spans)]
    return {"title": title, "text": text[start:end], "span": (start, end), "total_chars": len(text),
            "content_hash": hashlib.sha256(raw).hexdigest()}  # fmt: skip


def streamed_reading(path: Path, max_chars: int, seed: int) -> dict | str:
    doc = read_text_document(path, path.parent, max_chars, seed)
    if isinstance(doc, DocumentError):
        return doc.reason
    return {"title": doc.title, "text": doc.text, "span": doc.span, "total_chars": doc.total_chars,
            "content_hash": doc.content_hash}  # fmt: skip


TRICKY = [
    "# Title\r\n\r\nBody one.\r\n\r\nBody two. More words here.",
    "\r\r\n\r\n  ## \t\n### Real title ###  \r\nrest",
    "\n\n\n" + " " * 300 + "\n" + "x" * 170 + "   \n" + "y. " * 200,
    "T" * 150 + " " * 30 + "\nnext",
    "T" * 150 + " " * 30 + "z\nnext",
    "caf\u00e9 \u2014 \U0001f600 na\u00efve\u2028second line\x1cthird\x85fourth\x0cfifth",
    "   \u00a0\u3000\n\x1c\x1d\x1e \u2029 #\n# # heading\n",
    "\r",
    "a\r",
    "no breaks at all " * 40,
]
PIECES = ["a", " ", "\n", "\r", "\r\n", "#", ". ", "\u00e9", "\u2014", "\U0001f600", "\t", "\x0c", "\u2028", "\u00a0",
          "\x85", "word", "\n\n", "Sentence. "]  # fmt: skip


def fuzzed_texts(count: int) -> list[str]:
    rng = random.Random(11)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 900))) for _ in range(count)]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64, 1 << 20])
def test_streamed_reading_matches_whole_text_reading(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr(corpus, "_CHUNK_BYTES", chunk_bytes)
    path = tmp_path / "doc.md"
    for text in TRICKY + fuzzed_texts(40):
        raw = text.encode("utf-8")
        path.write_bytes(raw)
        for max_chars, seed in [(40, 0), (97, 1), (200, 3), (5000, 2)]:
            expected = whole_text_reading(raw, max_chars, seed)
            assert streamed_reading(path, max_chars, seed) == expected, (text, max_chars, seed)


@pytest.mark.parametrize("chunk_bytes", [1, 3, 1 << 20])
def test_invalid_utf8_is_reported_at_the_same_byte_with_the_same_reason(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr(corpus, "_CHUNK_BYTES", chunk_bytes)
    path = tmp_path / "doc.md"
    good = "caf\u00e9 \u2014 text \U0001f600 end".encode()
    for bad in (b"\xff", b"\xe2\x28", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3"):
        for at in (0, 4, len(good) // 2, len(good)):
            raw = good[:at] + bad + good[at:]
            path.write_bytes(raw)
            expected = whole_text_reading(raw, 100, 0)
            assert expected.startswith("invalid UTF-8") and streamed_reading(path, 100, 0) == expected


def test_seed_past_the_last_span_wraps_around_as_before(tmp_path):
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 30 for i in range(10))
    path = tmp_path / "long.md"
    path.write_bytes(text.encode())
    spans = split_spans(text, 400)
    for seed in (0, len(spans) - 1, len(spans), 3 * len(spans) + 2):
        doc = read_text_document(path, tmp_path, 400, seed)
        assert doc.span == spans[seed % len(spans)] and doc.text == text[slice(*doc.span)]


def test_peak_memory_stays_under_twice_the_file_size(tmp_path):
    paragraph = ("A line of ordinary prose, with a sentence or two. " * 8 + "\r\n") * 3 + "\r\n"
    path = tmp_path / "big.md"
    path.write_bytes(("# Big\r\n\r\n" + paragraph * (20_000_000 // len(paragraph))).encode())
    size = path.stat().st_size
    tracemalloc.start()
    try:
        doc = read_text_document(path, tmp_path, 6000, seed=7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert doc.title == "Big" and doc.span[0] > 0 and len(doc.text) <= 6000
    assert peak < 1.5 * size, f"peak {peak / size:.2f}x the file size"

"""Reading sources: good documents, every kind of bad input, chunking of long documents."""

import json
import os
from pathlib import Path

import pytest

from autodata.engine.corpus import DocumentError, SourcesError, iter_documents, split_spans
from tests.conftest import SHARED_CORPORA


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_of_documents_in_sorted_order(tmp_path):
    write(tmp_path / "b.md", b"# Second\n\nBody two.")
    write(tmp_path / "a.txt", b"First title\nBody one.")
    write(tmp_path / "notes.pdf", b"%PDF")  # ignored: not a supported suffix
    docs = list(iter_documents(tmp_path, max_chars=1000))
    assert [d.doc_id for d in docs] == ["a", "b"]
    assert docs[1].title == "Second" and docs[0].span == (0, len(docs[0].text))
    assert len(docs[0].content_hash) == 64


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"   \n\n ", "empty file"),
        ("binary.txt", b"\x89PNG\x00\x00\x01binary", "binary file"),
        ("latin1.md", "caf\u00e9 cr\u00e8me".encode("latin-1"), "invalid UTF-8"),
    ],
)
def test_bad_documents_are_reported_and_skipped(tmp_path, name, data, reason):
    write(tmp_path / name, data)
    write(tmp_path / "z_good.md", b"A good document.")
    results = list(iter_documents(tmp_path, max_chars=1000))
    errors = [r for r in results if isinstance(r, DocumentError)]
    assert len(errors) == 1 and reason in errors[0].reason and errors[0].path.endswith(name)
    assert [r.doc_id for r in results if not isinstance(r, DocumentError)] == ["z_good"]


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(SourcesError, match="does not exist"):
        iter_documents(tmp_path / "missing", max_chars=100)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourcesError, match=r"no \.md, \.txt or \.jsonl files"):
        iter_documents(tmp_path / "empty", max_chars=100)


def test_jsonl_problems_with_a_malformed_line(tmp_path):
    rows = [
        json.dumps({"question": "What is 2+2?", "answer": "4", "dataset": "toy"}),
        "{not json",
        json.dumps({"question": "", "answer": "1"}),
        json.dumps({"question": "Half of one?", "answer": "1/2", "solution": "Divide."}),
    ]
    path = write(tmp_path / "problems.jsonl", ("\n".join(rows) + "\n").encode())
    results = list(iter_documents(path, max_chars=1000))
    good = [r for r in results if not isinstance(r, DocumentError)]
    bad = [r for r in results if isinstance(r, DocumentError)]
    assert [d.doc_id for d in good] == ["problems-L1", "problems-L4"]
    assert good[1].reference_answer == "1/2" and "Worked solution: Divide." in good[1].text
    assert [(e.doc_id, e.reason) for e in bad] == [
        ("problems-L2", "malformed JSON: Expecting property name enclosed in double quotes (column 2)"),
        ("problems-L3", "line 3: 'question' must be a non-empty string, not an empty string"),
    ]  # fmt: skip


def test_long_documents_are_chunked_at_paragraphs_and_the_seed_picks_the_span(tmp_path):
    paragraphs = [f"Paragraph {i}. " + "word " * 60 for i in range(30)]
    text = "\n\n".join(paragraphs)
    write(tmp_path / "long.md", text.encode())
    spans = split_spans(text, 1000)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(end - start <= 1000 for start, end in spans)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, nothing lost
    first = next(iter_documents(tmp_path, max_chars=1000, seed=0))
    second = next(iter_documents(tmp_path, max_chars=1000, seed=1))
    assert first.span == spans[0] and second.span == spans[1]
    assert text[first.span[0]:first.span[1]] == first.text and first.total_chars == len(text)
    assert first.text.startswith("Paragraph 0.") and second.text.startswith("Paragraph")


@pytest.mark.skipif(not SHARED_CORPORA.exists(), reason="../shared/corpora not present")
def test_shared_corpora_read_cleanly():
    for folder in ("cs_papers", "legal", "math_science"):
        results = list(iter_documents(SHARED_CORPORA / folder, max_chars=6000))
        assert results and not [r for r in results if isinstance(r, DocumentError)]


def test_overlong_jsonl_problem_is_an_error_never_a_cut(tmp_path):
    rows = [
        {"question": "What is 2+2?", "answer": "4"},
        {"question": "Long " * 100 + "?", "answer": "the answer at the very end"},
        {"question": "Half of one?", "answer": "1/2"},
    ]
    path = write(tmp_path / "problems.jsonl", "\n".join(json.dumps(row) for row in rows).encode())
    results = list(iter_documents(path, max_chars=200))
    assert [r.doc_id for r in results] == ["problems-L1", "problems-L2", "problems-L3"]
    good, error, last = results
    assert isinstance(error, DocumentError) and error.path.endswith("problems.jsonl#L2")
    assert str(path) in error.reason and "line 2" in error.reason and "budget of 200 characters" in error.reason
    assert not isinstance(good, DocumentError) and not isinstance(last, DocumentError)
    assert last.text.endswith("Answer: 1/2") and last.span == (0, len(last.text))


def test_unfollowable_entries_are_reported_and_the_rest_is_read(tmp_path):
    write(tmp_path / "good.md", b"# Good\n\nA good document.")
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere" / "hidden.md", b"Not read through the link.")
    (tmp_path / "linked_good.md").symlink_to(tmp_path / "good.md")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "image.png").symlink_to(tmp_path / "missing.png")  # not a source name: ignored, as before
    os.mkfifo(tmp_path / "pipe.md")
    results = list(iter_documents(tmp_path, max_chars=1000))
    read = [r.doc_id for r in results if not isinstance(r, DocumentError)]
    errors = {r.doc_id: r.reason for r in results if isinstance(r, DocumentError)}
    assert read == ["elsewhere_hidden", "good", "linked_good"]
    assert errors["dangling"].startswith("dangling symlink") and "missing.md" in errors["dangling"]
    assert errors["loop"].startswith("dangling symlink") and "loop" in errors["loop"]
    assert errors["more"].startswith("symlink to a directory")
    assert errors["pipe"].startswith("not a regular file")
    assert set(errors) == {"dangling", "loop", "more", "pipe"}


def test_a_folder_of_only_unreadable_entries_says_what_was_skipped(tmp_path):
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")
    with pytest.raises(SourcesError, match=r"no \.md, \.txt or \.jsonl files .*dangling\.md: dangling symlink"):
        iter_documents(tmp_path, max_chars=100)
    with pytest.raises(SourcesError, match="a dangling symlink"):
        iter_documents(tmp_path / "dangling.md", max_chars=100)

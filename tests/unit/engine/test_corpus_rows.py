"""Every source is checked on the way in: a problem row of the wrong type, empty or too large is bad input
naming its line (and the rows after it are read), a row over the limit is never held whole, and no two
sources share a document id."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import pytest

from autodata.engine.corpus import DocumentError, iter_documents, iter_jsonl_problems, max_row_bytes

HOSTILE = Path(__file__).parents[2] / "fixtures" / "hostile"


def read(path: Path, max_chars: int = 1000) -> tuple[dict[str, object], dict[str, str]]:
    """(good documents by id, bad inputs' reasons by id)."""
    good, bad = {}, {}
    for result in iter_documents(path, max_chars=max_chars):
        if isinstance(result, DocumentError):
            bad[result.doc_id] = result.reason
        else:
            good[result.doc_id] = result
    return good, bad


def ids_of(found: dict[str, object], name: str) -> str:
    """The hash part of the id of the document read from the file `name`."""
    return next(doc_id for doc_id, doc in found.items() if Path(doc.path).name == name).split("~")[1]


def test_each_bad_row_is_named_by_its_line_and_the_good_rows_are_read():
    good, bad = read(HOSTILE / "bad_problem_rows.jsonl")
    assert sorted(good) == ["bad_problem_rows-L1", "bad_problem_rows-L11"]
    assert good["bad_problem_rows-L11"].reference_answer == "7"
    assert "Answer: 7" in good["bad_problem_rows-L11"].text
    assert bad["bad_problem_rows-L2"] == "line 2: 'question' must be a non-empty string, not a number"
    assert bad["bad_problem_rows-L4"] == "line 4: 'answer' must be a non-empty string or a number, not null"
    assert bad["bad_problem_rows-L5"] == "line 5: 'answer' must be a non-empty string or a number, not an array"
    assert len(bad) == 9


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"question": "Q?", "answer": float("inf")}, "'answer' must be a finite number, not inf"),
        ({"question": "Q?", "answer": "  "}, "'answer' must be a non-empty string or a number, not an empty string"),
        ({"question": "Q?", "answer": "1", "unit": 5}, "'unit' must be a string when given, not a number"),
        ({"question": "Q?", "answer": "1", "dataset": ["x"]}, "'dataset' must be a string when given, not an array"),
        ("just a string", "a problem row must be a JSON object, not a string"),
        (None, "a problem row must be a JSON object, not null"),
    ],
)  # fmt: skip
def test_wrong_types_are_bad_input(tmp_path, row, reason):
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
    good, bad = read(tmp_path / "p.jsonl")
    assert not good and bad == {"p-L1": f"line 1: {reason}"}


def test_numbers_and_optional_fields_are_kept_as_written(tmp_path):
    rows = [{"question": " Q? ", "answer": 0.5, "unit": " m ", "solution": None, "dataset": None, "source": "src"}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    good, bad = read(tmp_path / "p.jsonl")
    assert not bad
    assert good["p-L1"].reference_answer == "0.5" and good["p-L1"].text == "Problem: Q?\nAnswer: 0.5 (m)"
    assert good["p-L1"].title == "src"


def test_a_row_over_the_limit_is_bad_input_and_never_held_whole(tmp_path):
    max_chars = 2000
    limit = max_row_bytes(max_chars)
    path = tmp_path / "p.jsonl"
    with path.open("w") as fh:
        fh.write(json.dumps({"question": "Q?", "answer": "1"}) + "\n")
        fh.write('{"question": "' + "x" * (64 << 20) + '", "answer": "1"}\n')  # 64 MiB
        fh.write(json.dumps({"question": "R?", "answer": "2"}) + "\n")
        fh.write('{"question": "' + "y" * (limit * 2))  # a last line without its newline
    tracemalloc.start()
    try:
        results = list(iter_jsonl_problems(path, max_chars))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * limit, f"peak {peak} bytes for a {limit}-byte row limit"
    assert [r.doc_id for r in results] == ["p-L1", "p-L2", "p-L3", "p-L4"]
    assert isinstance(results[1], DocumentError) and isinstance(results[3], DocumentError)
    assert results[1].reason.startswith(f"problem row too large: {path} line 2 is {(64 << 20) + 32:,} bytes")
    assert results[2].reference_answer == "2"


def test_a_row_just_within_the_limit_is_read(tmp_path):
    limit = max_row_bytes(100)
    head = '{"question": "Q?", "answer": "1", "note": "'
    row = head + "n" * (limit - len(head) - 2) + '"}'
    (tmp_path / "p.jsonl").write_text(row + "\n")
    good, bad = read(tmp_path / "p.jsonl", max_chars=100)
    assert not bad and list(good) == ["p-L1"]


def test_sources_whose_ids_would_collide_each_get_their_own_id(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(HOSTILE / "colliding_ids", src)
    (src / "sub").mkdir()
    (src / "sub" / "p.jsonl").write_text(json.dumps({"question": "Q?", "answer": "1"}) + "\n")
    (src / "sub_p.md").write_text("# Flat\n\ntext")
    (src / "p.jsonl").write_text(json.dumps({"question": "Q?", "answer": "1"}) + "\n")
    (src / "p-L1.md").write_text("# Row-like name\n\ntext")
    (src / "paper.md").write_text("# Paper\n\ntext")
    good, bad = read(src)
    ids = list(good) + list(bad)
    assert len(ids) == len(set(ids)) == 9
    assert "paper" in good and "sub_p" in good  # an id without a clash is unchanged
    assert sorted(i for i in ids if i.startswith("p")) == sorted(["paper", "p-L1~" + ids_of(good, "p-L1.md"),
                                                                  *[i for i in good if i.endswith("-L1") and "~" in i]])
    assert sorted(bad) == sorted(i for i in ids if i.split("~")[0] in ("x", "a_b"))
    # Ids do not depend on the order or on which run reads them.
    again_good, again_bad = read(src)
    assert list(again_good) + list(again_bad) == ids

"""The run directory checks itself on open: rows that cannot be ours are removed (and kept aside), stored
document texts are checked against their hash, and what the rows mean (models, reading budget) is compared
on resume."""

from __future__ import annotations

import hashlib
import json

import pytest

from autodata.engine.batch import settings_changes
from autodata.engine.costs import Prices, usage_cost
from autodata.engine.document_store import DocumentStore, DocumentTextError
from autodata.engine.rundir import ITEMS, RunDirectory
from autodata.state.schemas import RoleUsage


def test_garbage_lines_and_repeated_rows_are_removed_and_kept_aside(tmp_path):
    run = RunDirectory(tmp_path)
    rows = [{"id": "a", "question": "q1"}, {"id": "b", "question": "q2"}]
    lines = [json.dumps(rows[0]), "{not json", json.dumps(rows[1]), json.dumps(rows[0]), "[1, 2]", '{"id": 5}']
    run.file(ITEMS).write_text("\n".join(lines) + "\n")
    (note,) = run.check_rows()
    assert "3 line(s) that are not rows (line 2, 5, 6)" in note and "1 repeated row(s) (id a)" in note
    assert [row["id"] for row in run.items()] == ["a", "b"]
    assert run.file(ITEMS + ".removed").read_text().count("\n") == 4
    assert run.check_rows() == []  # a healthy directory is left as it is


def test_a_stored_text_is_checked_against_its_hash_and_restored(tmp_path):
    store = DocumentStore(tmp_path / "documents")
    digest = store.put("The original text.")
    store.path(digest).write_text("An edited text.")
    with pytest.raises(DocumentTextError, match="changed since it was written"):
        DocumentStore(tmp_path / "documents").get(digest)
    store.path(digest).unlink()
    with pytest.raises(DocumentTextError, match="is missing"):
        DocumentStore(tmp_path / "documents").get(digest)
    DocumentStore(tmp_path / "documents").restore("The original text.")
    assert DocumentStore(tmp_path / "documents").get(digest) == "The original text."
    assert digest == hashlib.sha256(b"The original text.").hexdigest()


def record(weak_model: str, max_source_chars: int) -> dict:
    return {"task": "cs-research", "seed": 0, "context": {"max_rounds": 2},
            "settings": {"roles": {"weak": {"model": weak_model}}, "max_source_chars": max_source_chars}}  # fmt: skip


def test_a_role_model_and_the_reading_budget_are_part_of_what_rows_mean():
    assert settings_changes(record("small", 6000), record("small", 6000)) == []
    assert settings_changes(record("small", 6000), record("large", 4000)) == [
        "models.weak: 'small' -> 'large'", "max_source_chars: 6000 -> 4000",
    ]
    older = {key: value for key, value in record("small", 6000).items() if key != "settings"}
    assert settings_changes(older, record("large", 4000)) == []  # an older config.json names neither


def test_calls_without_prices_or_reported_tokens_cost_an_unknown_amount():
    assert usage_cost(RoleUsage(calls=3), Prices()) is None
    assert usage_cost(RoleUsage(), Prices()) == 0
    assert usage_cost(RoleUsage(calls=3), Prices(input=1.0, output=1.0)) == 0

"""Document texts kept once in the run directory: what the checkpoint serializer saves and reads back."""

from __future__ import annotations

import hashlib

from langgraph.types import Send

from autodata.engine.document_store import REFERENCE_PREFIX, DocumentRefSerializer, DocumentStore
from autodata.engine.checkpoints import checkpoint_serializer
from autodata.state.schemas import CandidateItem
from autodata.state.self_instruct import SolveTask
from tests.support.graph_script import make_document

TEXT = "A long paper about regularisation. " * 200


def test_documents_are_saved_as_references_and_read_back_whole(tmp_path):
    store = DocumentStore(tmp_path / "documents")
    serde = DocumentRefSerializer(checkpoint_serializer(), store)
    doc = make_document(TEXT)
    task = SolveTask(role="weak", sample_index=0, round=1, item=CandidateItem(question="q", reference_answer="a"),
                     document=doc)  # fmt: skip
    checkpoint = {"channel_values": {"document": doc, "round": 3}, "pending": [Send("weak_solver", task)]}
    saved = serde.dumps_typed(checkpoint)
    assert TEXT[:200].encode() not in saved[1] and REFERENCE_PREFIX.encode() in saved[1]
    (stored,) = (tmp_path / "documents").iterdir()
    assert stored.read_text() == TEXT and stored.name == f"{hashlib.sha256(TEXT.encode()).hexdigest()}.txt"
    restored = DocumentRefSerializer(checkpoint_serializer(), DocumentStore(tmp_path / "documents")).loads_typed(saved)
    assert restored["channel_values"]["document"] == doc and restored["channel_values"]["round"] == 3
    assert restored["pending"][0].arg.document == doc and restored["pending"][0].node == "weak_solver"
    assert checkpoint["channel_values"]["document"].text == TEXT  # what was saved is left as it was


def test_a_text_is_written_once_however_often_it_is_saved(tmp_path):
    store = DocumentStore(tmp_path / "documents")
    serde = DocumentRefSerializer(checkpoint_serializer(), store)
    for step in range(5):
        serde.dumps_typed({"document": make_document(TEXT), "step": step})
    serde.dumps_typed({"document": make_document("Another paper.")})
    assert sorted(path.read_text() for path in (tmp_path / "documents").iterdir()) == sorted([TEXT, "Another paper."])


def test_values_without_documents_pass_through_unchanged(tmp_path):
    serde = DocumentRefSerializer(checkpoint_serializer(), DocumentStore(tmp_path / "documents"))
    value = {"rounds": [1, 2], "item": CandidateItem(question="q", reference_answer="a"), "name": ("a", "b")}
    assert serde.loads_typed(serde.dumps_typed(value)) == {**value, "name": ["a", "b"]}
    assert not (tmp_path / "documents").exists()

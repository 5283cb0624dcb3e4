"""Document text stored once per document in the run directory, and checkpoints that refer to it.

Every checkpoint of a document's thread holds the whole graph state, and the state holds the source document
(its text: up to a whole paper), as does every solver task sent in a round. Written as is, that is the
document's text at every step of every round in `checkpoints.sqlite`. `DocumentRefSerializer` wraps the
checkpoint serializer: on the way in, each `SourceDocument` found in what is saved (a channel's value, a
state update, a `Send`'s payload, one level inside a record) is saved with its text replaced by a reference to
`documents/<sha256>.txt` in the run directory, written once (atomically) before the checkpoint row that refers
to it; on the way out the text is read back. Nodes and graphs see whole documents as before; resume after a
crash reads the same state.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.types import Send
from pydantic import BaseModel

from autodata.state.schemas import SourceDocument

# The stored text of a document whose text is in the store: a prefix no text file starts with, then the hash.
REFERENCE_PREFIX = "\x00autodata:document:"
DOCUMENTS_DIR = "documents"


class DocumentTextError(ValueError):
    """A stored document text is missing or no longer matches its hash (deleted or edited by hand)."""


class DocumentStore:
    """Content-addressed text files under `root` (`documents/<sha256>.txt`), each written once."""

    def __init__(self, root: Path, cached: int = 64) -> None:
        self.root = Path(root)
        self._written: set[str] = set()
        self._texts: OrderedDict[str, str] = OrderedDict()  # recently read or written texts
        self._cached = cached

    def path(self, digest: str) -> Path:
        return self.root / f"{digest}.txt"

    def put(self, text: str) -> str:
        """The text's sha256; its file exists when this returns."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in self._written:
            target = self.path(digest)
            if not target.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(f".{os.getpid()}.part")
                partial.write_text(text, encoding="utf-8")
                partial.replace(target)
            self._written.add(digest)
            self._remember(digest, text)
        return digest

    def get(self, digest: str) -> str:
        """The text stored under `digest`, checked against it (DocumentTextError when missing or changed)."""
        text = self._texts.get(digest)
        if text is None:
            text = self._read_checked(digest)
            self._remember(digest, text)
        return text

    def _read_checked(self, digest: str) -> str:
        path = self.path(digest)
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            text = None
        if text is None or hashlib.sha256(text.encode()).hexdigest() != digest:
            state = "missing" if text is None else "changed since it was written (its sha256 differs)"
            raise DocumentTextError(
                f"{path} is {state}: run with the --sources that hold the document to restore it"
            )
        return text

    def restore(self, text: str) -> None:
        """Write the text's file again if it is missing or damaged (a deleted documents/ folder, an edit)."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        try:
            self._read_checked(digest)
        except DocumentTextError:
            self._written.discard(digest)
            self.path(digest).unlink(missing_ok=True)
            self.put(text)

    def _remember(self, digest: str, text: str) -> None:
        self._texts[digest] = text
        self._texts.move_to_end(digest)
        while len(self._texts) > self._cached:
            self._texts.popitem(last=False)


@lru_cache(maxsize=None)
def _document_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """Fields of a record type that hold a SourceDocument (SolveTask.document): looked at on every save."""
    return tuple(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, SourceDocument)
    )


def _is_reference(doc: SourceDocument) -> bool:
    return doc.text.startswith(REFERENCE_PREFIX)


def _replace_documents(value: Any, swap: Any) -> Any:
    """`value` with every SourceDocument `doc` in it replaced by `swap(doc)`; containers are copied only
    where something changed."""
    if isinstance(value, SourceDocument):
        return swap(value)
    if isinstance(value, dict):
        replaced = {key: _replace_documents(item, swap) for key, item in value.items()}
        return value if all(replaced[key] is item for key, item in value.items()) else replaced
    if isinstance(value, (list, tuple)):
        items = [_replace_documents(item, swap) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        if isinstance(value, list):
            return items
        return value._make(items) if hasattr(value, "_make") else tuple(items)  # a named tuple stays one
    if isinstance(value, Send):
        arg = _replace_documents(value.arg, swap)
        return value if arg is value.arg else Send(value.node, arg, timeout=value.timeout)
    if isinstance(value, BaseModel):
        update = {name: swap(getattr(value, name)) for name in _document_fields(type(value))}
        changed = {name: doc for name, doc in update.items() if doc is not getattr(value, name)}
        return value.model_copy(update=changed) if changed else value
    return value


class DocumentRefSerializer(SerializerProtocol):
    """The checkpoint serializer `inner`, with document texts kept in `store` instead of in each row."""

    def __init__(self, inner: SerializerProtocol, store: DocumentStore) -> None:
        self.inner = inner
        self.store = store

    def _to_reference(self, doc: SourceDocument) -> SourceDocument:
        if _is_reference(doc):
            return doc
        return doc.model_copy(update={"text": REFERENCE_PREFIX + self.store.put(doc.text)})

    def _to_text(self, doc: SourceDocument) -> SourceDocument:
        if not _is_reference(doc):
            return doc
        return doc.model_copy(update={"text": self.store.get(doc.text.removeprefix(REFERENCE_PREFIX))})

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self.inner.dumps_typed(_replace_documents(obj, self._to_reference))

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return _replace_documents(self.inner.loads_typed(data), self._to_text)

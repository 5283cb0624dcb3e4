"""Copy guard: a proposed prompt must not carry text copied from the validation or test documents.

A prompt that quotes an evaluation document could steer the challenger to a question already known to pass
on it, raising the score without improving the agent on unseen documents. The guard rejects a proposed file
that contains a verbatim span of at least `min_chars` characters (200 by default) of any guarded document,
unless the parent file already held that span (then the edit did not add it).

Both sides are compared with whitespace runs collapsed to one space, so re-wrapping lines does not hide a
copy. The index is sparse shingling: each document contributes its shingles of w = min_chars - step + 1
characters starting at every multiple of `step`; any copied span of min_chars characters contains one of them
whole. The proposal is scanned at every offset against that index (a dictionary of strings, so each probe is
one hash lookup), and a hit is extended in both directions to the full common span before it is judged.
Indexing costs O(document chars / step) entries; a scan costs O(proposal chars).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_MIN_CHARS = 200
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", text)


@dataclass(frozen=True)
class GuardedDocument:
    split: str  # "validation" or "test"
    doc_id: str
    text: str


@dataclass(frozen=True)
class CopiedSpan:
    split: str
    doc_id: str
    length: int
    excerpt: str

    def reason(self) -> str:
        return (
            f"copies {self.length} characters verbatim from {self.split} document '{self.doc_id}' "
            f"(\"{self.excerpt}...\"); prompts must not contain evaluation documents' text"
        )


class CopyGuard:
    def __init__(self, documents: Iterable[GuardedDocument], min_chars: int = DEFAULT_MIN_CHARS) -> None:
        if min_chars < 8:
            raise ValueError("the copy guard's span length must be at least 8 characters")
        self.min_chars = min_chars
        self.step = max(1, min_chars // 4)
        self.width = min_chars - self.step + 1
        self.documents = [(doc, normalize(doc.text)) for doc in documents]
        self.index: dict[str, list[tuple[int, int]]] = {}
        for number, (_, text) in enumerate(self.documents):
            for start in range(0, len(text) - self.width + 1, self.step):
                self.index.setdefault(text[start : start + self.width], []).append((number, start))

    def _extend(self, proposal: str, at: int, number: int, start: int) -> tuple[int, int]:
        """The maximal common span around a shingle hit: (start in proposal, length)."""
        text = self.documents[number][1]
        left = 0
        while at - left > 0 and start - left > 0 and proposal[at - left - 1] == text[start - left - 1]:
            left += 1
        right = self.width
        while at + right < len(proposal) and start + right < len(text) and proposal[at + right] == text[start + right]:
            right += 1
        return at - left, left + right

    def find_copy(self, proposal: str, parent: str = "") -> CopiedSpan | None:
        """The first span of >= min_chars characters shared with a guarded document and new in `proposal`."""
        proposal, parent = normalize(proposal), normalize(parent)
        for at in range(len(proposal) - self.width + 1):
            for number, start in self.index.get(proposal[at : at + self.width], ()):
                begin, length = self._extend(proposal, at, number, start)
                span = proposal[begin : begin + length]
                if length >= self.min_chars and span not in parent:
                    doc = self.documents[number][0]
                    return CopiedSpan(doc.split, doc.doc_id, length, span[:60])
        return None

"""Deterministic train / validation / test splits of one corpus for the meta-optimizer (`optimize --sources`).

Documents are ordered by sha256(seed, doc id) and cut into train, validation and the rest as test. The order
depends only on each document's own id and the seed, so adding a document to the corpus moves no other
document between splits except where the cut points shift, and the same corpus and seed always give the same
split. Sizes are counts (`50`) or fractions of the corpus (`0.5`); the default is 50 / 25 / rest.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

DEFAULT_TRAIN = 50
DEFAULT_VAL = 25


class SplitError(ValueError):
    """The corpus cannot be split as asked (too few documents, a bad size)."""


class HasDocId(Protocol):
    doc_id: str


D = TypeVar("D", bound=HasDocId)


def parse_size(raw: str | int | float) -> int | float:
    """`50` -> 50 documents; `0.5` -> half the corpus. Fractions lie in (0, 1); counts are positive."""
    value = float(raw)
    if isinstance(raw, str) and "." not in raw and value.is_integer():
        return _count(int(value))
    if isinstance(raw, int):
        return _count(raw)
    if not 0 < value < 1:
        raise SplitError(f"a split size is a count (50) or a fraction between 0 and 1 (0.5), not {raw}")
    return value


def _count(value: int) -> int:
    if value < 1:
        raise SplitError(f"a split needs at least one document, not {value}")
    return value


def resolve(size: int | float, total: int) -> int:
    return size if isinstance(size, int) else max(1, math.floor(size * total))


def split_key(seed: int, doc_id: str) -> str:
    return hashlib.sha256(f"{seed}\0{doc_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Splits(Generic[D]):
    train: tuple[D, ...]
    validation: tuple[D, ...]
    test: tuple[D, ...]

    def ids(self) -> dict[str, list[str]]:
        """The split as doc ids, for the run directory's record and the resume check."""
        return {name: [doc.doc_id for doc in getattr(self, name)] for name in ("train", "validation", "test")}


def split_documents(
    documents: Sequence[D], seed: int = 0, train: int | float = DEFAULT_TRAIN, val: int | float = DEFAULT_VAL
) -> Splits[D]:
    """Train, validation and test (the rest); every split gets at least one document or SplitError says why."""
    ids = [doc.doc_id for doc in documents]
    if len(set(ids)) != len(ids):
        raise SplitError("document ids repeat in the corpus; a split by id needs distinct ids")
    total = len(documents)
    n_train, n_val = resolve(train, total), resolve(val, total)
    if n_train + n_val >= total:
        raise SplitError(
            f"{total} documents cannot be split into {n_train} train, {n_val} validation and a non-empty test "
            "split; give smaller sizes (counts, or fractions such as 0.5 and 0.25)"
        )
    ordered = sorted(documents, key=lambda doc: split_key(seed, doc.doc_id))
    return Splits(
        train=tuple(ordered[:n_train]),
        validation=tuple(ordered[n_train : n_train + n_val]),
        test=tuple(ordered[n_train + n_val :]),
    )

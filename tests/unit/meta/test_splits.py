"""Deterministic train / validation / test splits of one corpus."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from autodata.meta.splits import SplitError, parse_size, split_documents


@dataclass(frozen=True)
class Doc:
    doc_id: str


CORPUS = [Doc(f"paper-{i:03d}") for i in range(100)]


def test_default_split_is_50_25_rest_and_deterministic():
    splits = split_documents(CORPUS, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (50, 25, 25)
    ids = splits.ids()
    assert sorted(ids["train"] + ids["validation"] + ids["test"]) == sorted(d.doc_id for d in CORPUS)
    assert split_documents(list(reversed(CORPUS)), seed=0).ids() == ids  # input order does not matter
    assert split_documents(CORPUS, seed=1).ids() != ids  # the seed does


def test_a_document_stays_in_its_split_when_the_corpus_grows():
    small = split_documents(CORPUS[:80], seed=0, train=0.5, val=0.25)
    large = split_documents(CORPUS, seed=0, train=0.5, val=0.25)
    assert (len(small.train), len(small.validation), len(small.test)) == (40, 20, 20)
    # Documents are ordered by their own hash: the first 40 of the small order lead the large order's train split.
    assert set(small.ids()["train"]) <= set(large.ids()["train"]) | set(large.ids()["validation"])


def test_sizes_parse_as_counts_or_fractions():
    assert parse_size("50") == 50 and parse_size("0.25") == 0.25 and parse_size(10) == 10
    for bad in ("0", "1.0", "-3", "1.5"):
        with pytest.raises(SplitError):
            parse_size(bad)


def test_a_corpus_too_small_for_the_sizes_is_refused_with_the_reason():
    with pytest.raises(SplitError, match="20 documents cannot be split into 50 train, 25 validation"):
        split_documents(CORPUS[:20])
    with pytest.raises(SplitError, match="ids repeat"):
        split_documents([Doc("a"), Doc("a"), Doc("b")], train=1, val=1)

"""Near-duplicate questions within a run.

Method: each question becomes the set of its word 3-grams (lower-cased, punctuation dropped; questions
under three words use single words). Two questions are near duplicates when the Jaccard similarity of
those sets reaches the threshold (default 0.7). The first accepted item is kept, later ones are dropped
and counted as `near_duplicates` in stats.json.

Lookup is exact but not a scan of every kept question (which made a run quadratic: 2.5 ms per item at 4,000
kept items, growing with every one, on the event loop). It uses prefix filtering: under any fixed order
of the 3-grams, two sets with Jaccard >= t share a 3-gram among the first |S| - ceil(t*|S|) + 1 of each.
So each kept question is indexed by its prefix only, a new question looks up its own prefix, and just
those candidates (of a compatible size) have their Jaccard computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from autodata.rules.format_rules import normalize

DEFAULT_THRESHOLD = 0.7


def shingles(text: str, n: int = 3) -> frozenset[str]:
    words = normalize(text).split()
    if len(words) < n:
        return frozenset(words)
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _order(shingle: str) -> tuple[int, str]:
    # Any fixed total order is correct; hashing spreads the common 3-grams ("what is the") over positions,
    # so they are seldom in a prefix. An index lives in one process, so Python's string hash is fixed.
    return hash(shingle), shingle


@dataclass
class NearDuplicateIndex:
    threshold: float = DEFAULT_THRESHOLD
    _ids: list[str] = field(default_factory=list)
    _sets: list[frozenset[str]] = field(default_factory=list)
    _postings: dict[str, list[int]] = field(default_factory=dict)

    def _at_least(self, size: float) -> int:
        """The smallest integer >= threshold * size (tolerating float error: 0.7 * 10 is 7.000000000000001)."""
        return math.ceil(self.threshold * size - 1e-9)

    def _prefix(self, shingle_set: frozenset[str]) -> list[str]:
        length = len(shingle_set) - self._at_least(len(shingle_set)) + 1
        return sorted(shingle_set, key=_order)[:length]

    def add(self, item_id: str, question: str) -> None:
        position = len(self._ids)
        shingle_set = shingles(question)
        self._ids.append(item_id)
        self._sets.append(shingle_set)
        for shingle in self._prefix(shingle_set) if shingle_set else [""]:  # "": the empty questions' bucket
            self._postings.setdefault(shingle, []).append(position)

    def duplicate_of(self, question: str) -> str | None:
        """The id of the earliest kept item whose question this one nearly repeats, if any."""
        if self.threshold <= 0:  # everything is a near duplicate of the first kept question
            return self._ids[0] if self._ids else None
        candidate = shingles(question)
        keys = self._prefix(candidate) if candidate else [""]
        positions = sorted({p for key in keys for p in self._postings.get(key, ())})
        size = len(candidate)
        for position in positions:
            kept = self._sets[position]
            if self._at_least(len(kept)) <= size and self._at_least(size) <= len(kept):  # sizes that can reach t
                if jaccard(candidate, kept) >= self.threshold:
                    return self._ids[position]
        return None

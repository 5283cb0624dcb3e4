"""Near-duplicate questions within a run.

Method: each question becomes the set of its word 3-grams (lower-cased, punctuation dropped; questions
under three words use single words). Two questions are near duplicates when the Jaccard similarity of
those sets reaches the threshold (default 0.7). The first accepted item is kept, later ones are dropped
and counted as `near_duplicates` in stats.json. Exact comparison against every kept question is O(n) per
item, which is fine for the thousands of accepted items a run yields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autodata.format_rules import normalize

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


@dataclass
class NearDuplicateIndex:
    threshold: float = DEFAULT_THRESHOLD
    _kept: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def add(self, item_id: str, question: str) -> None:
        self._kept.append((item_id, shingles(question)))

    def duplicate_of(self, question: str) -> str | None:
        """The id of a kept item whose question this one nearly repeats, if any."""
        candidate = shingles(question)
        for kept_id, kept in self._kept:
            if jaccard(candidate, kept) >= self.threshold:
                return kept_id
        return None

"""Per-document Pareto parent selection (GEPA-style), the alternative to Boltzmann over the pooled score.

A version's per-document score is the fraction of its validation runs in which that document yielded an
accepted item. For each validation document the versions with the highest score (above zero) are "best" on
it. Candidates are the versions best on at least one document and not Pareto-dominated (another version at
least as good on every document and better on one); a candidate is drawn with weight = the number of
documents it is best on. A version that is the only one to crack a hard document thus stays a possible
parent even when its pooled score is lower, which keeps the search from collapsing onto one lineage.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

SELECTION_STRATEGIES = ("boltzmann", "pareto")
PerDocumentScores = Mapping[str, Mapping[str, float]]  # version id -> doc id -> score in [0, 1]


def _score(scores: PerDocumentScores, version: str, doc_id: str) -> float:
    return scores[version].get(doc_id, 0.0)


def documents_of(scores: PerDocumentScores) -> list[str]:
    return sorted({doc_id for per_doc in scores.values() for doc_id in per_doc})


def best_counts(scores: PerDocumentScores) -> dict[str, int]:
    """Version -> how many documents it is best on (ties count for every tied version; all-zero documents for none)."""
    counts = {version: 0 for version in scores}
    for doc_id in documents_of(scores):
        top = max(_score(scores, version, doc_id) for version in scores)
        if top <= 0:
            continue
        for version in scores:
            if _score(scores, version, doc_id) == top:
                counts[version] += 1
    return counts


def dominates(scores: PerDocumentScores, a: str, b: str, documents: Sequence[str]) -> bool:
    """`a` is at least as good as `b` on every document and strictly better on one."""
    pairs = [(_score(scores, a, d), _score(scores, b, d)) for d in documents]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def pareto_weights(scores: PerDocumentScores) -> dict[str, int]:
    """Non-dominated versions that are best on at least one document, with their sampling weights."""
    documents = documents_of(scores)
    counts = best_counts(scores)
    front = [v for v, count in counts.items() if count > 0]
    return {
        v: counts[v] for v in front if not any(dominates(scores, other, v, documents) for other in scores if other != v)
    }


def pareto_choice(scores: PerDocumentScores, rng: random.Random) -> str:
    """Draw a parent; with no document solved by anyone, every version is equally likely."""
    if not scores:
        raise ValueError("Pareto selection needs at least one version")
    weights = pareto_weights(scores)
    if not weights:
        return rng.choice(sorted(scores))
    versions = sorted(weights)
    return rng.choices(versions, weights=[weights[v] for v in versions], k=1)[0]

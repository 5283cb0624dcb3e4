"""Per-document Pareto parent selection: only non-dominated versions best on some document are drawn."""

from __future__ import annotations

import random
from collections import Counter

from autodata.meta.selection import best_counts, pareto_choice, pareto_weights

SCORES = {
    "v0000": {"d1": 1.0, "d2": 0.0, "d3": 0.0, "d4": 0.0},
    "v0001": {"d1": 1.0, "d2": 1.0, "d3": 0.0, "d4": 0.0},  # dominates v0000
    "v0002": {"d1": 0.0, "d2": 0.0, "d3": 1.0, "d4": 0.0},  # the only one to solve d3
    "v0003": {"d1": 0.5, "d2": 0.5, "d3": 0.5, "d4": 0.0},  # best nowhere
}


def test_front_holds_only_non_dominated_versions_weighted_by_documents_won():
    assert best_counts(SCORES) == {"v0000": 1, "v0001": 2, "v0002": 1, "v0003": 0}
    # v0000 is best on d1 (tied) but v0001 dominates it; v0003 is best nowhere; d4 is solved by nobody.
    assert pareto_weights(SCORES) == {"v0001": 2, "v0002": 1}


def test_draws_come_only_from_the_front_in_proportion_to_the_weights():
    rng = random.Random(7)
    draws = Counter(pareto_choice(SCORES, rng) for _ in range(6_000))
    assert set(draws) == {"v0001", "v0002"}
    assert 0.62 < draws["v0001"] / 6_000 < 0.71


def test_no_solved_document_falls_back_to_a_uniform_draw():
    scores = {"v0000": {"d1": 0.0}, "v0001": {"d1": 0.0}}
    assert pareto_weights(scores) == {}
    assert {pareto_choice(scores, random.Random(seed)) for seed in range(20)} == {"v0000", "v0001"}

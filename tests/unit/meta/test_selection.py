"""Boltzmann parent selection: P(v) ∝ exp(score(v) / T), checked by statistics under a fixed seed."""

from __future__ import annotations

import math
import random
from collections import Counter
from types import SimpleNamespace

import pytest

from autodata.nodes.meta.select_parent import (
    boltzmann_choice,
    boltzmann_probabilities,
    iteration_rng,
    select_parent,
)
from autodata.state.meta import IterationState, MetaContext, ScoredVersion

POPULATION = [ScoredVersion(id="v0000", score=0.2), ScoredVersion(id="v0001", score=0.3), ScoredVersion(id="v0003", score=0.5)]


def expected(temperature: float) -> list[float]:
    weights = [math.exp(v.score / temperature) for v in POPULATION]
    return [w / sum(weights) for w in weights]


def test_probabilities_follow_the_boltzmann_formula():
    assert boltzmann_probabilities([v.score for v in POPULATION], 0.1) == pytest.approx(expected(0.1))
    # Scores far apart at a tiny temperature: no overflow, all mass on the best.
    assert boltzmann_probabilities([0.0, 1.0], 1e-4) == pytest.approx([0.0, 1.0])
    # A high temperature flattens the distribution towards uniform.
    assert boltzmann_probabilities([0.0, 1.0], 1e6) == pytest.approx([0.5, 0.5], abs=1e-5)
    with pytest.raises(ValueError):
        boltzmann_probabilities([0.1], 0.0)


@pytest.mark.parametrize("temperature", [0.1, 0.3])
def test_seeded_sampling_matches_the_distribution(temperature):
    draws = 20_000
    rng = random.Random(1234)
    counts = Counter(boltzmann_choice(POPULATION, temperature, rng).id for _ in range(draws))
    probabilities = expected(temperature)
    # Pearson chi-square with 2 degrees of freedom: 13.82 is the 0.999 quantile.
    chi_square = sum((counts[v.id] - draws * p) ** 2 / (draws * p) for v, p in zip(POPULATION, probabilities))
    assert chi_square < 13.82, (counts, probabilities)
    for version, probability in zip(POPULATION, probabilities):
        assert counts[version.id] / draws == pytest.approx(probability, abs=0.015)
    # With T = 0.1 the best version is picked most (about 0.84), but the worst is still explored (about 0.04).
    if temperature == 0.1:
        assert counts.most_common(1)[0][0] == "v0003" and counts["v0000"] > 500


async def test_select_parent_is_reproducible_per_seed_and_iteration():
    first = [iteration_rng(7, i, "parent").random() for i in range(5)]
    again = [iteration_rng(7, i, "parent").random() for i in range(5)]
    assert first == again and len(set(first)) == 5
    picks = []
    for iteration in range(1, 41):
        runtime = SimpleNamespace(context=MetaContext(seed=7, temperature=0.3))
        state = IterationState(iteration=iteration, population=POPULATION)
        picks.append((await select_parent(state, runtime))["parent"])
        assert (await select_parent(state, runtime))["parent"] == picks[-1]
    assert set(picks) > {"v0003"}  # different iterations explore different parents

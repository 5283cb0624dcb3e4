"""Select parent: Boltzmann sampling over the population's validation scores, P(v) ∝ exp(score(v) / T)
(the default), or per-document Pareto selection (`--selection pareto`, autodata/meta_selection.py).

A low temperature exploits the best version; a high one explores. The generator is seeded by the run seed
and the iteration number, so a resumed or repeated run picks the same parents.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

from autodata.meta.selection import pareto_choice
from autodata.nodes.meta.common import meta_context
from autodata.state.meta import IterationState, ScoredVersion


def boltzmann_probabilities(scores: Sequence[float], temperature: float) -> list[float]:
    if temperature <= 0:
        raise ValueError("the Boltzmann temperature must be positive")
    top = max(scores)  # subtracting the maximum keeps exp() from overflowing at small T
    weights = [math.exp((score - top) / temperature) for score in scores]
    total = sum(weights)
    return [weight / total for weight in weights]


def boltzmann_choice(candidates: Sequence[ScoredVersion], temperature: float, rng: random.Random) -> ScoredVersion:
    probabilities = boltzmann_probabilities([c.score for c in candidates], temperature)
    return rng.choices(list(candidates), weights=probabilities, k=1)[0]


def iteration_rng(seed: int, iteration: int, purpose: str) -> random.Random:
    return random.Random(f"{seed}:{purpose}:{iteration}")


async def select_parent(state: IterationState, runtime: Any) -> dict[str, Any]:
    ctx = meta_context(runtime)
    rng = iteration_rng(ctx.seed, state.iteration, "parent")
    if ctx.selection == "pareto":
        parent = pareto_choice({v.id: v.per_document for v in state.population}, rng)
    else:
        parent = boltzmann_choice(state.population, ctx.temperature, rng).id
    return {"parent": parent, "started_at": state.started_at or time.time()}

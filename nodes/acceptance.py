"""Acceptance: the policy applied in code to the scores. No model output can vote on it directly.

Also hosts the weak check that decides whether the strong solver runs at all.
"""

from __future__ import annotations

from typing import Any

from autodata.nodes._common import family_of, run_context
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import AttemptScore, RoundOutcome, TaskFamily
from autodata.state.self_instruct_state import SelfInstructState

_EPS = 1e-9


def mean_score(scores: list[AttemptScore]) -> float | None:
    values = [s.score for s in scores if s.score is not None]
    return sum(values) / len(values) if values else None


def any_unscored(scores: list[AttemptScore]) -> bool:
    return not scores or any(s.score is None for s in scores)


def weak_check_passes(weak: list[AttemptScore], family: TaskFamily, policy: AcceptancePolicy) -> bool:
    """True when the weak solver failed enough for the item to be worth trying on the strong solver."""
    avg = mean_score(weak) or 0.0
    if family is TaskFamily.VERIFIABLE:
        return avg <= policy.weak_max_correct_fraction + _EPS
    return avg < policy.weak_max_avg


def strong_check_passes(
    weak: list[AttemptScore], strong: list[AttemptScore], family: TaskFamily, policy: AcceptancePolicy
) -> bool:
    weak_avg, strong_avg = mean_score(weak) or 0.0, mean_score(strong) or 0.0
    if family is TaskFamily.VERIFIABLE:
        return strong_avg + _EPS >= policy.strong_min_correct_fraction
    return strong_avg + _EPS >= policy.strong_min_avg and strong_avg - weak_avg + _EPS >= policy.min_gap


async def acceptance(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    ctx = run_context(runtime)
    weak, strong = state.scores_for("weak"), state.scores_for("strong")
    if any_unscored(strong):
        return {"outcome": RoundOutcome.MODEL_ERROR, "round_error": "some strong attempts could not be scored"}
    accepted = strong_check_passes(weak, strong, family_of(ctx), ctx.policy)
    return {"outcome": None if accepted else RoundOutcome.FAILED_ON_STRONG}

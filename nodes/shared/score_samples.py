"""Scoring nodes: after a solver's samples fan in, score them with the judge (rubric) or verifier.

The weak scorer also applies the weak rules of the acceptance policy: the strong solver runs only if they hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import family_of, run_context, trace_metadata, usage_update
from autodata.nodes.shared.judge import judge_attempts
from autodata.nodes.shared.verifier import verify_attempts
from autodata.rules.scoring import any_unscored, weak_failed_rule
from autodata.state.schemas import RoundOutcome, SolverRole, TaskFamily
from autodata.state.self_instruct import SelfInstructState


async def _score(state: SelfInstructState, runtime: Any, role: SolverRole, provider: ModelProvider) -> dict[str, Any]:
    ctx = run_context(runtime)
    attempts = state.attempts_for(role)
    if family_of(ctx) is TaskFamily.RUBRIC:
        scores, usage = await judge_attempts(provider, attempts, state.item, ctx, trace_metadata(state, ctx))
        return {"scores": scores, **usage_update("judge", usage)}
    return {"scores": verify_attempts(attempts, state.item.reference_answer)}


def make_scorer(
    role: SolverRole, provider: ModelProvider
) -> Callable[[SelfInstructState, Any], Awaitable[dict[str, Any]]]:
    async def score(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
        update = await _score(state, runtime, role, provider)
        if role == "weak":
            ctx = run_context(runtime)
            if any_unscored(update["scores"]):
                update.update(outcome=RoundOutcome.MODEL_ERROR, round_error="some weak attempts could not be scored")
            elif rule := weak_failed_rule(update["scores"], family_of(ctx), ctx.policy):
                # Any weak rule, the zero floor included, is recorded as too easy with the rule that failed.
                update.update(outcome=RoundOutcome.TOO_EASY, rule=rule)
        return update

    score.__name__ = f"score_{role}"
    return score

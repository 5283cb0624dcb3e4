"""Baseline assessment: applies the acceptance policy (in code) to an item scored once, and closes the round.

Unlike the agentic loop nothing is retried: a kept item stays in the baseline dataset whether or not it
meets the policy; the round's outcome records which check it would have failed, in the loop's order
(quality check, then weak check, then strong check). Two filters remove an item from the set instead: the
answer-consistency filter (`dropped`) and, for rubric tasks, the end-of-loop filter (`filtered`).
"""

from __future__ import annotations

from typing import Any

from autodata.nodes.shared.common import family_of, run_context
from autodata.nodes.shared.end_filter import STAGE as END_FILTER
from autodata.nodes.self_instruct.orchestrator import close_round
from autodata.rules.scoring import (
    any_unscored,
    strong_check_passes,
    weak_check_passes,
)
from autodata.state.baselines import BaselineState, ConsistencyCheck
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import QualityVerdict, RoundOutcome, TaskFamily

# The reason nodes.quality_verifier records when its model's output (not the item) was unusable after the
# re-asks; an endpoint failure never gets here (it stops the document, which the next run retries).
QUALITY_CALL_FAILED = "quality verifier call failed"


def end_filter_rejected(state: BaselineState) -> bool:
    """The end-of-loop filter ran on this item and rejected it (or its model output was unusable)."""
    return any(verdict.stage == END_FILTER and not verdict.passed for verdict in state.quality)


def _end_filter_outcome(state: BaselineState) -> RoundOutcome:
    verdict = next(v for v in state.quality if v.stage == END_FILTER and not v.passed)
    return RoundOutcome.MODEL_ERROR if QUALITY_CALL_FAILED in verdict.reasons else RoundOutcome.FAILED_QUALITY_CHECK


def policy_outcome(state: BaselineState, family: TaskFamily, policy: AcceptancePolicy) -> RoundOutcome:
    """The outcome the agentic loop would have recorded for this item in its first round."""
    failed_checks = [reason for verdict in state.quality if not verdict.passed for reason in verdict.reasons]
    if QUALITY_CALL_FAILED in failed_checks:
        return RoundOutcome.MODEL_ERROR
    if failed_checks or not all(verdict.passed for verdict in state.quality):
        return RoundOutcome.FAILED_QUALITY_CHECK
    weak, strong = state.scores_for("weak"), state.scores_for("strong")
    if state.round_error or any_unscored(weak) or any_unscored(strong):
        return RoundOutcome.MODEL_ERROR
    if not weak_check_passes(weak, family, policy):
        return RoundOutcome.TOO_EASY
    if not strong_check_passes(weak, strong, family, policy):
        return RoundOutcome.FAILED_ON_STRONG
    return RoundOutcome.ACCEPTED


def inconsistency_reason(check: ConsistencyCheck, reference: str) -> str:
    if check.majority_answer is None:
        return f"answer-consistency: none of the {check.samples} strong samples produced an answer"
    if not check.self_consistent:
        return (
            f"self-consistency: the majority answer {check.majority_answer!r} holds only {check.majority_votes}/"
            f"{check.samples} samples (under 50%)"
        )
    return (
        f"answer-consistency: majority answer {check.majority_answer!r} ({check.majority_votes}/{check.samples} "
        f"samples) disagrees with the generated answer {reference!r}"
    )


async def assess(state: BaselineState, runtime: Any) -> dict[str, Any]:
    ctx = run_context(runtime)
    update: dict[str, Any] = {}
    if state.item is None:
        status, outcome = "no_item", RoundOutcome.MODEL_ERROR
    elif state.consistency is not None and not state.consistency.agrees:
        # No majority at all means the samples failed or came back empty: a model error, not an inconsistency.
        no_answer = state.consistency.majority_answer is None
        status = "dropped"
        outcome = RoundOutcome.MODEL_ERROR if no_answer else RoundOutcome.FAILED_QUALITY_CHECK
        reason = inconsistency_reason(state.consistency, state.item.reference_answer)
        update["quality"] = [*state.quality, QualityVerdict(passed=False, reasons=[reason])]
    elif end_filter_rejected(state):
        status, outcome = "filtered", _end_filter_outcome(state)
    else:
        status, outcome = "kept", policy_outcome(state, family_of(ctx), ctx.policy)
        update["accepted_item"] = state.item
    record = close_round(state.model_copy(update=update), outcome, None)
    return {**update, "status": status, "outcome": outcome, "meets_policy": outcome is RoundOutcome.ACCEPTED,
            "rounds": [record]}  # fmt: skip

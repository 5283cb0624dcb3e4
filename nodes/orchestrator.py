"""Orchestrator: turns a failed round into grouped feedback and closes the round's record.

The category and the numbers come from the state (code); the orchestrator model adds a concrete new
angle. If that call fails on the endpoint's side the document stops here (`ModelCallFailed`) and the next
run retries it from this step.
"""

from __future__ import annotations

from typing import Any

from autodata.models import current_provider
from autodata.nodes._common import (
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.scoring import mean_score
from autodata.state.schemas import (
    FeedbackCategory,
    FeedbackEntry,
    RoundOutcome,
    RoundRecord,
)
from autodata.state.self_instruct_state import SelfInstructState

_CATEGORY = {
    RoundOutcome.TOO_EASY: FeedbackCategory.TOO_EASY,
    RoundOutcome.FAILED_ON_STRONG: FeedbackCategory.FAILED_ON_STRONG,
    RoundOutcome.FAILED_QUALITY_CHECK: FeedbackCategory.FAILED_QUALITY_CHECK,
    RoundOutcome.MODEL_ERROR: FeedbackCategory.MODEL_ERROR,
}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def round_facts(state: SelfInstructState, outcome: RoundOutcome) -> list[str]:
    facts: list[str] = []
    weak, strong = mean_score(state.scores_for("weak")), mean_score(state.scores_for("strong"))
    if outcome is RoundOutcome.FAILED_QUALITY_CHECK:
        for verdict in state.quality:
            facts += verdict.reasons
    elif outcome is RoundOutcome.TOO_EASY:
        facts.append(f"weak solver scored {_fmt(weak)} on average; it must fail")
    elif outcome is RoundOutcome.FAILED_ON_STRONG:
        facts.append(f"strong solver scored {_fmt(strong)}, weak {_fmt(weak)}; the strong one must succeed")
    if state.round_error:
        facts.append(state.round_error)
    return facts or [outcome.value]


def close_round(state: SelfInstructState, outcome: RoundOutcome, feedback: FeedbackEntry | None) -> RoundRecord:
    return RoundRecord(
        round=state.round,
        item=state.item,
        quality=state.quality,
        attempts=[a for a in state.attempts if a.round == state.round],
        scores=[s for s in state.scores if s.round == state.round],
        weak_avg=mean_score(state.scores_for("weak")),
        strong_avg=mean_score(state.scores_for("strong")),
        outcome=outcome,
        feedback=feedback,
        error=state.round_error,
    )


async def orchestrator(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    ctx = run_context(runtime)
    outcome = state.outcome or RoundOutcome.MODEL_ERROR
    facts = round_facts(state, outcome)
    category = _CATEGORY[outcome]
    messages = prompt_library(ctx.prompts_dir).messages(
        "orchestrator",
        category=category.value,
        details=facts,
        question=state.item.question if state.item else "(no item was produced)",
    )
    result = await current_provider().text("orchestrator", messages, metadata=trace_metadata(state, ctx))
    result.raise_if_endpoint_failed()
    feedback = FeedbackEntry(
        round=state.round,
        category=category,
        weak_avg=mean_score(state.scores_for("weak")),
        strong_avg=mean_score(state.scores_for("strong")),
        details=facts,
        advice=(result.value or "").strip()[:1000],
    )
    update: dict[str, Any] = {
        "feedback": [feedback],
        "rounds": [close_round(state, outcome, feedback)],
        **usage_update("orchestrator", result.usage),
    }
    if state.round >= ctx.max_rounds:
        update["status"] = "exhausted"
    return update


async def accept(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    """The item met the policy and passed the final quality check: keep it."""
    return {
        "status": "accepted",
        "accepted_item": state.item,
        "outcome": RoundOutcome.ACCEPTED,
        "rounds": [close_round(state, RoundOutcome.ACCEPTED, None)],
    }

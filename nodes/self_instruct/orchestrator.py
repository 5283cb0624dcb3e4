"""Orchestrator: diagnoses a failed round, writes the challenger's next instruction, and closes the round.

The category and the numbers come from the state (code). The orchestrator model sees the round's item, the
quality check's report, every sample's score and which criteria each sample met, plus the earlier questions of
the document, and writes a concrete instruction that reaches the challenger verbatim. If that call fails on
the endpoint's side the document stops here (`ModelCallFailed`) and the next run retries it from this step.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import (
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.nodes.self_instruct.refinement import (
    criterion_results,
    fmt_score,
    quality_report,
    refinement_memory,
    sample_scores,
)
from autodata.rules.scoring import mean_score
from autodata.state.context import RunContext
from autodata.state.schemas import (
    FeedbackCategory,
    FeedbackEntry,
    RoundOutcome,
    RoundRecord,
)
from autodata.state.self_instruct import SelfInstructState

_CATEGORY = {
    RoundOutcome.TOO_EASY: FeedbackCategory.TOO_EASY,
    RoundOutcome.FAILED_ON_STRONG: FeedbackCategory.FAILED_ON_STRONG,
    RoundOutcome.FAILED_QUALITY_CHECK: FeedbackCategory.FAILED_QUALITY_CHECK,
    RoundOutcome.MODEL_ERROR: FeedbackCategory.MODEL_ERROR,
}

_MAX_INSTRUCTION_CHARS = 3000


def round_facts(state: SelfInstructState, outcome: RoundOutcome) -> list[str]:
    facts: list[str] = []
    weak, strong = mean_score(state.scores_for("weak")), mean_score(state.scores_for("strong"))
    if outcome is RoundOutcome.FAILED_QUALITY_CHECK:
        for verdict in state.quality:
            facts += verdict.reasons
    elif outcome is RoundOutcome.TOO_EASY:
        facts.append(f"weak solver scored {fmt_score(weak)} on average; it must fail")
    elif outcome is RoundOutcome.FAILED_ON_STRONG:
        facts.append(f"strong solver scored {fmt_score(strong)}, weak {fmt_score(weak)}; the strong one must succeed")
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
        rule=None if outcome is RoundOutcome.ACCEPTED else state.rule,
        feedback=feedback,
        error=state.round_error,
    )


def orchestrator_messages(
    state: SelfInstructState, ctx: RunContext, category: FeedbackCategory, facts: list[str]
) -> list[BaseMessage]:
    """The round's evidence: item, quality report, per-sample scores, per-criterion hits, earlier questions."""
    scores = [s for s in state.scores if s.round == state.round]
    return prompt_library(ctx.prompts_dir).messages(
        "orchestrator",
        category=category.value,
        details=facts,
        round=state.round,
        max_rounds=ctx.max_rounds,
        item=state.item,
        question=state.item.question if state.item else "(no item was produced)",
        criteria=criterion_results(state.item, scores) if state.item else [],
        quality=quality_report(state.quality),
        weak_scores=sample_scores(scores, "weak"),
        strong_scores=sample_scores(scores, "strong"),
        memory=refinement_memory(state.rounds),
    )


async def orchestrator(state: SelfInstructState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = run_context(runtime)
    outcome = state.outcome or RoundOutcome.MODEL_ERROR
    facts = round_facts(state, outcome)
    category = _CATEGORY[outcome]
    messages = orchestrator_messages(state, ctx, category, facts)
    result = await provider.text("orchestrator", messages, metadata=trace_metadata(state, ctx))
    result.raise_if_endpoint_failed()
    feedback = FeedbackEntry(
        round=state.round,
        category=category,
        weak_avg=mean_score(state.scores_for("weak")),
        strong_avg=mean_score(state.scores_for("strong")),
        details=facts,
        advice=(result.value or "").strip()[:_MAX_INSTRUCTION_CHARS],
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

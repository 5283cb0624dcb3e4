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
    quality_report,
    refinement_memory,
    rule_verdict,
    sample_scores,
)
from autodata.rules.scoring import mean_score
from autodata.state.context import RunContext
from autodata.state.schemas import (
    FeedbackCategory,
    FeedbackEntry,
    RoundOutcome,
    RoundRecord,
    SolverRole,
)
from autodata.state.self_instruct import SelfInstructState

_CATEGORY = {
    RoundOutcome.TOO_EASY: FeedbackCategory.TOO_EASY,
    RoundOutcome.FAILED_ON_STRONG: FeedbackCategory.FAILED_ON_STRONG,
    RoundOutcome.FAILED_QUALITY_CHECK: FeedbackCategory.FAILED_QUALITY_CHECK,
    RoundOutcome.MODEL_ERROR: FeedbackCategory.MODEL_ERROR,
}

_MAX_INSTRUCTION_CHARS = 3000


def _scores_line(state: SelfInstructState, role: SolverRole) -> str:
    scores = state.scores_for(role)
    return f"{role} scores {sample_scores(scores, role)}" if scores else f"{role} solver not run"


def _zero_line(state: SelfInstructState, role: SolverRole) -> str:
    values = [s.score for s in state.scores_for(role) if s.score is not None]
    zeros = sum(1 for value in values if value <= 0.0)
    if zeros == len(values):
        return f"every {role} sample scored 0"
    return f"{zeros} of {len(values)} {role} samples scored 0"


def round_facts(state: SelfInstructState, outcome: RoundOutcome) -> list[str]:
    """What happened, in numbers, then the rejecting rule's own direction (RULE_VERDICTS)."""
    facts: list[str] = []
    if outcome is RoundOutcome.FAILED_QUALITY_CHECK:
        for verdict in state.quality:
            facts += verdict.reasons
    elif outcome in (RoundOutcome.TOO_EASY, RoundOutcome.FAILED_ON_STRONG):
        facts.append(_scores_line(state, "weak"))
        if outcome is RoundOutcome.FAILED_ON_STRONG:
            facts.append(_scores_line(state, "strong"))
        if state.rule in ("weak_zero", "strong_zero"):
            facts.append(_zero_line(state, "weak" if state.rule == "weak_zero" else "strong"))
        if state.rule:
            facts.append(f"rule {state.rule}: {rule_verdict(outcome, state.rule).direction}")
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
    state: SelfInstructState, ctx: RunContext, verdict: str, facts: list[str]
) -> list[BaseMessage]:
    """The round's evidence: its verdict (the rejecting rule's label), item, quality report, per-sample scores,
    per-criterion hits, earlier questions."""
    scores = [s for s in state.scores if s.round == state.round]
    return prompt_library(ctx.prompts_dir).messages(
        "orchestrator",
        category=verdict,
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
    messages = orchestrator_messages(state, ctx, rule_verdict(outcome, state.rule).label, facts)
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


async def drop_filtered(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    """The end-of-loop filter removed the item the loop accepted: the document ends `filtered`, its trajectory
    keeps the item and the filter's reasons, and no new round starts (the challenger never learns them)."""
    outcome = state.outcome or RoundOutcome.FAILED_QUALITY_CHECK
    return {"status": "filtered", "rounds": [close_round(state, outcome, None)]}


async def accept(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    """The item met the policy and passed the final quality check: keep it."""
    return {
        "status": "accepted",
        "accepted_item": state.item,
        "outcome": RoundOutcome.ACCEPTED,
        "rounds": [close_round(state, RoundOutcome.ACCEPTED, None)],
    }

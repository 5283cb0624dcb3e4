"""Decision, in code: a post-filter flag forces IMPROVE; otherwise the loop judge's verdict decides, and its
accept counts only when the acceptance checks also hold (the method's rubric shape, strong over a floor and
above weak by a gap, a weak spread: `rules.legal_shape.acceptance_failures`); a failed check is recorded as the
round's rule (outcome `rejected_by_rule`). Scores never overrule an improve. Closes the round's record and
spends the improve budget."""

from __future__ import annotations

from typing import Any

from autodata.nodes.legal.common import legal_context
from autodata.rules.legal_shape import acceptance_failures
from autodata.rules.scoring import mean_score
from autodata.state.legal import LegalContext, LegalOutcome, LegalRoundRecord, LegalState


def round_outcome(state: LegalState, ctx: LegalContext) -> tuple[LegalOutcome, list[tuple[str, str]]]:
    """The round's outcome and, when a code check overruled the loop judge's accept, what failed."""
    if state.round_error:
        return "model_error", []
    if state.shape_violations:
        return "rubric_shape", []
    if state.packet is not None and state.packet.post_filter_flags:
        return "post_filter", []
    if state.judge is None or state.judge.verdict != "accept" or state.item is None or state.packet is None:
        return "improve", []
    failures = acceptance_failures(state.item, state.packet, ctx.shape, ctx.acceptance)
    return ("rejected_by_rule", failures) if failures else ("accepted", [])


def close_round(
    state: LegalState, outcome: LegalOutcome, failures: list[tuple[str, str]] | None = None
) -> LegalRoundRecord:
    failures = failures or []
    return LegalRoundRecord(
        round=state.round,
        item=state.item,
        shape_violations=state.shape_violations,
        attempts=[a for a in state.attempts if a.round == state.round],
        scores=[s for s in state.scores if s.round == state.round],
        packet=state.packet,
        judge=state.judge,
        weak_avg=mean_score(state.scores_for("weak")),
        strong_avg=mean_score(state.scores_for("strong")),
        outcome=outcome,
        rule=failures[0][0] if failures else None,
        rule_reasons=[reason for _, reason in failures],
        error=state.round_error,
    )


async def decide(state: LegalState, runtime: Any) -> dict[str, Any]:
    ctx = legal_context(runtime)
    outcome, failures = round_outcome(state, ctx)
    update: dict[str, Any] = {"rounds": [close_round(state, outcome, failures)]}
    if outcome == "accepted":
        update.update(status="accepted", accepted_item=state.item)
    elif state.round - 1 >= ctx.max_improve_rounds:  # round 1 is the first draft, every later one an improve
        update["status"] = "exhausted"
    return update

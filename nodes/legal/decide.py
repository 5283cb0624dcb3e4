"""Decision, in code: a post-filter flag forces IMPROVE; otherwise the loop judge's verdict decides, and its
accept counts only when the acceptance checks also hold (the method's rubric shape, strong over a floor and
above weak by a gap, a weak spread: `rules.legal_shape.acceptance_failures`); a failed check is recorded as the
round's rule (outcome `rejected_by_rule`). Scores never overrule an improve. Where a person reviewed the
round (nodes/legal/review.py), their word comes last: a rejection closes the round as a failed one (outcome
`rejected_by_review`, the reviewer's reason as its rule reason, for the writer's next round), an edited rubric
closes it as `review_edit` and the edited item is scored as the next round's. Closes the round's record and
spends the improve budget."""

from __future__ import annotations

from typing import Any

from autodata.nodes.legal.common import legal_context
from autodata.nodes.shared.review import EDIT_RULE, REVIEW_RULE
from autodata.rules.legal_shape import acceptance_failures
from autodata.rules.scoring import mean_score
from autodata.state.legal import LegalContext, LegalOutcome, LegalRoundRecord, LegalState
from autodata.state.review import ReviewRecord


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


def this_rounds_review(state: LegalState) -> ReviewRecord | None:
    return next((review for review in reversed(state.reviews) if review.round == state.round), None)


def budget_left(state: LegalState, ctx: LegalContext) -> bool:
    """Whether another round may follow this one: round 1 is the first draft, every later one an improve."""
    return state.round - 1 < ctx.max_improve_rounds


def reviewed_outcome(state: LegalState, ctx: LegalContext) -> tuple[LegalOutcome, list[tuple[str, str]]] | None:
    """What the reviewer's decision makes of a round that would be accepted: None where nobody reviewed it, or
    the reviewer kept it (approved, or edited only the question)."""
    review = this_rounds_review(state)
    if review is None:
        return None
    if review.decision == "reject":
        return "rejected_by_review", [(REVIEW_RULE, review.reason)]
    if review.needs_rescore:
        next_step = f"scored again as round {state.round + 1}" if budget_left(state, ctx) else (
            "no improve round left to score it again")  # fmt: skip
        return "review_edit", [(EDIT_RULE, f"a reviewer edited the {', '.join(review.edited_fields)}: {next_step}")]
    return None


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
    if outcome == "accepted":
        outcome, failures = reviewed_outcome(state, ctx) or (outcome, failures)
    update: dict[str, Any] = {"rounds": [close_round(state, outcome, failures)]}
    if outcome == "accepted":
        update.update(status="accepted", accepted_item=state.item)
    elif not budget_left(state, ctx):
        update["status"] = "exhausted"
    return update

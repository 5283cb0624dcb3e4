"""The self-instruct loop's review step (nodes/shared/review.py has the rules every graph's review shares).

After the end filter, where the loop would accept the item, the thread pauses for a reviewer (when the run's
context sets `review`). Approve, or an edit that leaves the answer and rubric alone, goes on to `accept` with
the (edited) item; reject ends the round as a failed quality check (rule `review`) whose reason is the
reviewer's, so the orchestrator feeds it back like any failed round. An edited reference answer or rubric
closes the round (rule `review_edit`) and the edited item becomes the next round's, checked, solved and scored
like any other (no challenger call), within the round budget; with no round left the document ends exhausted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autodata.nodes.self_instruct.orchestrator import close_round
from autodata.nodes.shared.common import run_context
from autodata.nodes.shared.review import (
    EDIT_RULE,
    EDITABLE,
    REVIEW_RULE,
    ReviewDecision,
    ask_reviewer,
    edit_item,
    rescoring_an_edit,
    review_enabled,
    review_payload,
    review_record,
)
from autodata.state.review import ReviewRecord
from autodata.state.schemas import CandidateItem, QualityVerdict, RoundOutcome
from autodata.state.self_instruct import SelfInstructState


def self_instruct_payload(state: SelfInstructState, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a reviewer sees of this round's item."""
    item = state.item or CandidateItem(question="", reference_answer="")

    def solver(role: str) -> list[dict[str, Any]]:
        scores = {score.sample_index: score.score for score in state.scores_for(role)}
        return [{"answer": a.answer, "final_answer": a.final_answer, "score": scores.get(a.sample_index)}
                for a in state.attempts_for(role)]  # fmt: skip

    preset = (policy or {}).get("preset")
    return review_payload(
        document=state.document.doc_id, round_=state.round, question=item.question, context=item.context,
        reference_answer=item.reference_answer, rubric=[criterion.model_dump() for criterion in item.rubric],
        weak=solver("weak"), strong=solver("strong"),
        verdicts=[verdict.model_dump(exclude_none=True) for verdict in state.quality], policy=policy,
        passed_by=f"acceptance policy {preset}: the weak solver failed, the strong one succeeded; the quality "
        "verifier and the end-of-loop filter passed it",
    )  # fmt: skip


def apply_decision(
    state: SelfInstructState, decision: ReviewDecision, now: datetime | None = None, max_rounds: int | None = None
) -> dict[str, Any]:
    """The state update a decision makes: the (edited) item and its review record, a failed round, or (an edited
    answer or rubric) the edited item as the next round's, to be scored again (`max_rounds`: the round budget)."""
    item, edited = edit_item(state.item, decision, EDITABLE) if state.item is not None else (None, [])
    return _applied(state, decision, item, review_record(decision, state.round, edited, now), max_rounds)


def _applied(
    state: SelfInstructState, decision: ReviewDecision, item: Any, record: ReviewRecord, max_rounds: int | None
) -> dict[str, Any]:
    if decision.decision == "reject":
        verdict = QualityVerdict(passed=False, reasons=[f"a reviewer rejected the item: {record.reason}"],
                                 stage="review", rule=REVIEW_RULE)  # fmt: skip
        return {"outcome": RoundOutcome.FAILED_QUALITY_CHECK, "rule": REVIEW_RULE, "quality": [*state.quality, verdict],
                "reviews": [record]}  # fmt: skip
    if not record.needs_rescore:
        return {"item": item, "reviews": [record]}
    return {**_rescore_round(state, item, record.edited_fields, max_rounds), "reviews": [record]}


def _rescore_round(
    state: SelfInstructState, edited_item: CandidateItem | None, edited: list[str], max_rounds: int | None
) -> dict[str, Any]:
    """Close the round whose scores the edit invalidated, and start the next one with the edited item."""
    within_budget = max_rounds is None or state.round < max_rounds
    next_step = f"scored again as round {state.round + 1}" if within_budget else "no round left to score it again"
    verdict = QualityVerdict(passed=False, stage="review", rule=EDIT_RULE,
                             reasons=[f"a reviewer edited the {', '.join(edited)}: {next_step}"])  # fmt: skip
    closing = state.model_copy(update={"quality": [*state.quality, verdict], "rule": EDIT_RULE})
    update: dict[str, Any] = {"rounds": [close_round(closing, RoundOutcome.FAILED_QUALITY_CHECK, None)]}
    if not within_budget:
        return {**update, "status": "exhausted"}
    fresh = {"round": state.round + 1, "quality": [], "outcome": None, "round_error": None, "rule": None}
    return {**update, **fresh, "item": edited_item}


def after_review(state: SelfInstructState) -> str:
    """Where the thread goes from `review`: the orchestrator (rejected), the checks again (an edit to re-score),
    the end (an edit with no round left), or `accept`."""
    if state.outcome is not None:
        return "orchestrator"
    if state.status == "exhausted":
        return "exhausted"
    if rescoring_an_edit(state.reviews, state.round) and not state.scores_for("weak"):
        return "rescore"
    return "accept"


async def review(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    """Pause for a reviewer's decision (when the run asked for review) and apply it. The decision's record goes
    to the state's `reviews`, and from there into the kept item's row."""
    if not review_enabled(runtime) or state.item is None or rescoring_an_edit(state.reviews, state.round):
        return {}  # off, or the re-scored edit of an item the reviewer already decided on
    ctx = run_context(runtime)
    payload = self_instruct_payload(state, ctx.policy.model_dump(mode="json"))
    reviewed = ask_reviewer(payload, state.item, EDITABLE, state.round)
    return _applied(state, reviewed.decision, reviewed.item, reviewed.record, ctx.max_rounds)

"""A person in the loop: where the loop would accept an item, the thread pauses for a reviewer's decision.

The `review` node calls LangGraph's `interrupt()` with everything a reviewer needs to judge the item (question,
context, reference answer, the rubric with its weights, each solver's answers and scores, the quality
verdicts and the policy that passed it); the thread stays paused, in its checkpoint, until it is resumed with
`Command(resume=<decision>)` (Studio renders the pause and takes the answer; `langgraph_sdk` and the batch
engine resume the same way). The decision is one of:

    {"decision": "approve"}
    {"decision": "edit", "edits": {"question": ..., "reference_answer": ..., "rubric": [...]}}
    {"decision": "reject", "reason": "..."}

with an optional "reviewer" and "at" (when the decision was taken). An approved item, or one whose edit left
the answer and rubric alone, goes on to be kept (the update carries the edited item); a rejected one ends the
round as a failed quality check whose reason is the reviewer's, so the orchestrator feeds it back like any
failed round and the loop goes on within its round budget.

An edited reference answer or rubric invalidates the round's scores, so the edited item is scored again before
it is kept: the round closes (rule `review_edit`) and the edited item becomes the next round's item, checked,
solved and scored like any other (no challenger call), within the round budget; when no round is left the
document ends exhausted. The re-scored item does not pause a second time: the reviewer already decided on it.

The node does nothing unless the run's context sets `review` (off by default).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.types import interrupt
from pydantic import BaseModel, Field, ValidationError, model_validator

from autodata.nodes.self_instruct.orchestrator import close_round
from autodata.nodes.shared.common import run_context
from autodata.state.review import ReviewRecord
from autodata.state.schemas import CandidateItem, QualityVerdict, RoundOutcome, RubricCriterion
from autodata.state.self_instruct import SelfInstructState

EDITABLE = ("context", "question", "reference_answer", "rubric")
# Edits after which the scores no longer describe the item: it must be scored again before it is kept.
RESCORE_FIELDS = frozenset({"reference_answer", "rubric"})
REVIEW_RULE = "review"
EDIT_RULE = "review_edit"


class ReviewError(ValueError):
    """A resume value that is not a review decision; the message says what is wrong with it."""


class ReviewDecision(BaseModel):
    decision: Literal["approve", "edit", "reject"]
    reason: str = Field("", description="Why the item was rejected (required for reject).")
    edits: dict[str, Any] = Field(default_factory=dict, description="Corrected fields (edit): " + ", ".join(EDITABLE))
    reviewer: str = ""
    at: str = Field("", description="ISO time the decision was taken (unset: when it is applied).")

    @model_validator(mode="after")
    def _complete(self) -> ReviewDecision:
        if self.decision == "reject" and not self.reason.strip():
            raise ValueError("a rejection needs a reason")
        if self.decision == "edit":
            unknown = sorted(set(self.edits) - set(EDITABLE))
            if not self.edits or unknown:
                raise ValueError(f"an edit changes some of {', '.join(EDITABLE)}; got {unknown or 'nothing'}")
        return self


def parse_decision(value: Any) -> ReviewDecision:
    """The decision a thread was resumed with; a bare "approve" is accepted too."""
    if isinstance(value, str):
        value = {"decision": value}
    try:
        return ReviewDecision.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ReviewError(f"not a review decision: {first['msg']}") from None


def review_payload(state: SelfInstructState, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a reviewer sees, as plain JSON."""
    item = state.item or CandidateItem(question="", reference_answer="")

    def solver(role: str) -> list[dict[str, Any]]:
        scores = {score.sample_index: score.score for score in state.scores_for(role)}
        return [{"answer": a.answer, "final_answer": a.final_answer, "score": scores.get(a.sample_index)}
                for a in state.attempts_for(role)]  # fmt: skip

    return {
        "document": state.document.doc_id,
        "round": state.round,
        "question": item.question,
        "context": item.context,
        "reference_answer": item.reference_answer,
        "rubric": [criterion.model_dump() for criterion in item.rubric],
        "weak": solver("weak"),
        "strong": solver("strong"),
        "verdicts": [verdict.model_dump(exclude_none=True) for verdict in state.quality],
        "policy": policy or {},
        "answer_with": {"decision": "approve | edit | reject", "edits": list(EDITABLE), "reason": "for reject"},
    }


def apply_decision(
    state: SelfInstructState, decision: ReviewDecision, now: datetime | None = None, max_rounds: int | None = None
) -> dict[str, Any]:
    """The state update a decision makes: the (edited) item and its review record, a failed round, or (an edited
    answer or rubric) the edited item as the next round's, to be scored again (`max_rounds`: the round budget)."""
    at = decision.at or (now or datetime.now(UTC)).isoformat()
    if decision.decision == "reject":
        verdict = QualityVerdict(passed=False, reasons=[f"a reviewer rejected the item: {decision.reason.strip()}"],
                                 stage="review", rule=REVIEW_RULE)  # fmt: skip
        record = ReviewRecord(round=state.round, decision="reject", reviewer=decision.reviewer, at=at,
                              reason=decision.reason.strip())  # fmt: skip
        return {"outcome": RoundOutcome.FAILED_QUALITY_CHECK, "rule": REVIEW_RULE, "quality": [*state.quality, verdict],
                "reviews": [record]}  # fmt: skip
    item = state.item
    edited: list[str] = []
    if decision.decision == "edit" and item is not None:
        changes = dict(decision.edits)
        if "rubric" in changes:
            changes["rubric"] = [RubricCriterion.model_validate(c) for c in changes["rubric"]]
        edited = [name for name in EDITABLE if name in changes and changes[name] != getattr(item, name)]
        item = item.model_copy(update={name: changes[name] for name in edited})
    record = ReviewRecord(round=state.round, decision=decision.decision, reviewer=decision.reviewer, at=at,
                          edited_fields=edited, needs_rescore=bool(RESCORE_FIELDS & set(edited)))  # fmt: skip
    if not record.needs_rescore:
        return {"item": item, "reviews": [record]}
    return {**_rescore_round(state, item, edited, max_rounds), "reviews": [record]}


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


def rescoring_an_edit(state: SelfInstructState) -> bool:
    """Whether the current round scores an item a reviewer edited at the end of the previous round."""
    last = state.reviews[-1] if state.reviews else None
    return last is not None and last.needs_rescore and last.round == state.round - 1


def after_review(state: SelfInstructState) -> str:
    """Where the thread goes from `review`: the orchestrator (rejected), the checks again (an edit to re-score),
    the end (an edit with no round left), or `accept`."""
    if state.outcome is not None:
        return "orchestrator"
    if state.status == "exhausted":
        return "exhausted"
    if rescoring_an_edit(state) and not state.scores_for("weak"):
        return "rescore"
    return "accept"


def review_enabled(runtime: Any) -> bool:
    """Whether the run asked for review: its context's `review` switch."""
    return run_context(runtime).review


async def review(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    """Pause for a reviewer's decision (when the run asked for review) and apply it.

    `interrupt()` returns the resume value when the thread is resumed; the node runs again from its start
    then, so nothing before the interrupt may have side effects. The decision's record goes to the state's
    `reviews`, and from there into the kept item's row."""
    if not review_enabled(runtime) or rescoring_an_edit(state):
        return {}  # off, or the re-scored edit of an item the reviewer already decided on
    ctx = run_context(runtime)
    payload = review_payload(state, ctx.policy.model_dump(mode="json"))
    return apply_decision(state, parse_decision(interrupt(payload)), max_rounds=ctx.max_rounds)

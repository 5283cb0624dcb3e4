"""A person in the loop: what every graph's review step shares.

Where a graph's loop would keep an item, and the run's context sets `review` (off by default), its review node
calls LangGraph's `interrupt()` with a payload that shows a reviewer everything needed to judge the item, and
the thread stays paused, in its checkpoint, until it is resumed with `Command(resume=<decision>)` (Studio renders
the pause and takes the answer; `langgraph_sdk`, `autodata review` and the batch engine resume the same way):

    {"decision": "approve"}
    {"decision": "edit", "edits": {"question": ..., "reference_answer": ..., "rubric": [...]}}
    {"decision": "reject", "reason": "..."}

with an optional "reviewer" and "at" (when the decision was taken). A resume value that is not a decision this
graph can apply pauses the thread again, with the reason under "error" in the payload: a bad answer never ends
the thread in an error.

Every graph's payload has the same keys (`review_payload`), so the terminal reviewer and Studio read them
alike: document, round, question, context, reference_answer, rubric (criteria with weights), weak and strong
(each sample's answer and score), verdicts (the checks it passed), policy (the thresholds), passed_by (the rule
that passed it, in words), editable (the fields an edit may change) and answer_with.

What a decision does is each graph's (nodes/<pipeline>/review.py), by the same rules: approve keeps the item;
an edit keeps the edited item with the edit recorded, but an edited reference answer or rubric invalidates the
round's scores, so the edited item is scored again, as the next round's item, before it is kept (and does not
pause a second time); reject ends the round as a failed one whose reason is the reviewer's, fed back to the next
round like any other failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.types import interrupt
from pydantic import BaseModel, Field, ValidationError, model_validator

from autodata.nodes.shared.common import context_as
from autodata.state.review import ReviewRecord

EDITABLE = ("context", "question", "reference_answer", "rubric")  # what any graph's item may have
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


class _ReviewSwitch(BaseModel):
    review: bool = False


def review_enabled(runtime: Any) -> bool:
    """Whether the run asked for review: its context's `review` switch (any graph's context)."""
    return context_as(runtime, _ReviewSwitch).review


@dataclass(frozen=True)
class Reviewed:
    """A decision as a graph applies it: the item as the reviewer left it and the record the item keeps."""

    decision: ReviewDecision
    item: Any
    record: ReviewRecord

    @property
    def rejected(self) -> bool:
        return self.decision.decision == "reject"

    @property
    def needs_rescore(self) -> bool:
        return self.record.needs_rescore


def edit_item(item: BaseModel, decision: ReviewDecision, editable: tuple[str, ...]) -> tuple[BaseModel, list[str]]:
    """The item with the decision's edits (checked as the item's own type: a rubric of the graph's criteria), and
    the fields that really changed. ReviewError for an edit of a field this graph's items do not have, or one
    that does not validate."""
    if decision.decision != "edit":
        return item, []
    foreign = sorted(set(decision.edits) - set(editable))
    if foreign:
        raise ReviewError(f"this graph's items have no {', '.join(foreign)} to edit (editable: {', '.join(editable)})")
    try:
        edited_item = type(item).model_validate({**item.model_dump(), **decision.edits})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ReviewError(f"the edited {where} is not valid: {first['msg']}") from None
    edited = [name for name in editable if name in decision.edits and getattr(edited_item, name) != getattr(item, name)]
    return item.model_copy(update={name: getattr(edited_item, name) for name in edited}), edited


def review_record(
    decision: ReviewDecision, round_: int, edited: list[str] | None = None, now: datetime | None = None
) -> ReviewRecord:
    at = decision.at or (now or datetime.now(UTC)).isoformat()
    edited = edited or []
    return ReviewRecord(
        round=round_, decision=decision.decision, reviewer=decision.reviewer, at=at, edited_fields=edited,
        reason=decision.reason.strip(), needs_rescore=bool(RESCORE_FIELDS & set(edited)),
    )  # fmt: skip


def ask_reviewer(payload: dict[str, Any], item: BaseModel, editable: tuple[str, ...], round_: int) -> Reviewed:
    """Pause the thread with `payload` until it is resumed with a decision this graph can apply.

    `interrupt()` returns the resume value when the thread is resumed; the node runs again from its start then,
    so nothing before the interrupt may have side effects. A value that is no decision, or an edit that does not
    fit the item, pauses again (a second interrupt of the same node) with the reason under "error"."""
    problem = ""
    while True:
        shown = {**payload, "editable": list(editable), **({"error": problem} if problem else {})}
        try:
            decision = parse_decision(interrupt(shown))
            edited_item, edited = edit_item(item, decision, editable)
        except ReviewError as exc:
            problem = str(exc)
            continue
        return Reviewed(decision, edited_item, review_record(decision, round_, edited))


def rescoring_an_edit(reviews: list[ReviewRecord], round_: int) -> bool:
    """Whether round `round_` scores an item a reviewer edited at the end of the previous round (an item the
    reviewer already decided on: it is not paused again)."""
    last = reviews[-1] if reviews else None
    return last is not None and last.needs_rescore and last.round == round_ - 1


def review_payload(
    *,
    document: str,
    round_: int,
    question: str,
    context: str = "",
    reference_answer: str = "",
    rubric: list[dict[str, Any]] | None = None,
    weak: list[dict[str, Any]],
    strong: list[dict[str, Any]],
    verdicts: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    passed_by: str,
    **extra: Any,
) -> dict[str, Any]:
    """What a reviewer sees, as plain JSON, with the keys every graph shares (weak/strong: one dict per sample with
    at least "answer" and "score"); `extra` adds a graph's own facts."""
    return {
        "document": document, "round": round_, "question": question, "context": context,
        "reference_answer": reference_answer, "rubric": rubric or [], "weak": weak, "strong": strong,
        "verdicts": verdicts or [], "policy": policy or {}, "passed_by": passed_by, **extra,
        "answer_with": {"decision": "approve | edit | reject", "edits": "the corrected editable fields",
                        "reason": "for reject"},
    }  # fmt: skip

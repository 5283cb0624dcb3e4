"""Helpers the legal graph's nodes share: the legal run context, the rubric seen as a plain rubric, and the
start of a round."""

from __future__ import annotations

from typing import Any

from autodata.nodes.shared.common import context_as
from autodata.state.legal import LegalContext, LegalItem, LegalState
from autodata.state.schemas import CandidateItem, RubricCriterion


def legal_context(runtime: Any) -> LegalContext:
    return context_as(runtime, LegalContext)


def as_candidate(item: LegalItem) -> CandidateItem:
    """The shape the shared solver and judge nodes read: no context, no reference answer (the judge never
    sees one anyway), the rubric's criteria and weights."""
    rubric = [RubricCriterion(criterion=c.criterion, weight=c.weight) for c in item.rubric]
    return CandidateItem(context="", question=item.question, reference_answer="", rubric=rubric)


def legal_metadata(state: LegalState, ctx: LegalContext, **extra: Any) -> dict[str, Any]:
    return {"task": ctx.task, "document_id": state.document.doc_id, "round": state.round, "run_id": ctx.run_id,
            **extra}  # fmt: skip


def new_round(round_: int, item: LegalItem | None = None, shape_violations: list[str] | None = None) -> dict[str, Any]:
    """The state update that starts round `round_` with `item` (the writer's, or a reviewer's edit): whatever the
    previous round computed about its own item is cleared."""
    return {
        "round": round_, "item": item, "shape_violations": shape_violations or [], "packet": None, "judge": None,
        "round_error": None,
    }  # fmt: skip

"""Typed state of the inner Agentic Self-Instruct graph."""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from autodata.state.review import ReviewRecord
from autodata.state.schemas import (
    AttemptScore,
    CandidateItem,
    FeedbackEntry,
    QualityVerdict,
    RoleUsage,
    RoundOutcome,
    RoundRecord,
    SolverAttempt,
    SolverRole,
    SourceDocument,
)


def merge_usage(left: dict[str, RoleUsage] | None, right: dict[str, RoleUsage] | None) -> dict[str, RoleUsage]:
    """Reducer: per-role usage deltas add up (parallel solver branches each report their own)."""
    merged = dict(left or {})
    for role, delta in (right or {}).items():
        delta = RoleUsage.model_validate(delta)
        merged[role] = merged[role].plus(delta) if role in merged else delta
    return merged


# filtered: the loop accepted an item and the end-of-loop filter removed it (the document ends there).
Status = Literal["running", "accepted", "exhausted", "filtered"]


class SelfInstructState(BaseModel):
    document: SourceDocument = Field(description="The source document the item must be grounded in.")
    round: int = Field(0, description="Current round, 1-based once the challenger has run.")
    item: CandidateItem | None = Field(None, description="The current round's candidate item.")
    quality: list[QualityVerdict] = Field(default_factory=list, description="Current round's quality verdicts.")
    outcome: RoundOutcome | None = Field(None, description="Set by the node that ends the current round.")
    round_error: str | None = Field(None, description="A model failure that ended the current round.")
    rule: str | None = Field(None, description="The rule that rejected the current round (set with `outcome`).")
    attempts: Annotated[list[SolverAttempt], operator.add] = Field(default_factory=list)
    scores: Annotated[list[AttemptScore], operator.add] = Field(default_factory=list)
    feedback: Annotated[list[FeedbackEntry], operator.add] = Field(default_factory=list)
    rounds: Annotated[list[RoundRecord], operator.add] = Field(default_factory=list, description="The trajectory.")
    usage: Annotated[dict[str, RoleUsage], merge_usage] = Field(default_factory=dict)
    status: Status = "running"
    accepted_item: CandidateItem | None = None
    reviews: Annotated[list[ReviewRecord], operator.add] = Field(
        default_factory=list, description="A person's decisions on the items the loop would accept (run with review)."
    )

    def attempts_for(self, role: SolverRole, round_: int | None = None) -> list[SolverAttempt]:
        r = self.round if round_ is None else round_
        return sorted((a for a in self.attempts if a.role == role and a.round == r), key=lambda a: a.sample_index)

    def scores_for(self, role: SolverRole, round_: int | None = None) -> list[AttemptScore]:
        r = self.round if round_ is None else round_
        return sorted((s for s in self.scores if s.role == role and s.round == r), key=lambda s: s.sample_index)


class SolveTask(BaseModel):
    """Payload of one `Send` to the solver: one sample of one role."""

    role: SolverRole
    sample_index: int
    round: int
    item: CandidateItem
    document: SourceDocument
    prompt: str | None = Field(None, description="Solver prompt file; default solver_<family>. Same for both roles.")

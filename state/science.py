"""Typed state of the science graph (METHOD.md §4): parallel challengers, a screen, exact-count evaluation.

A round drafts `candidates` items at once, screens them, evaluates the top `evaluate_top` with weak and strong
samples, and either accepts one or hands the orchestrator's diagnosis to the next round's challengers.
Every record is keyed by (round, candidate) so the append-only lists never need clearing between rounds.
With `review` in the context, the round's winner waits for a person's decision before it is kept
(nodes/science/review.py); the decisions are kept in `reviews`.
"""

from __future__ import annotations

import operator
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from autodata.state.context import RunContext
from autodata.state.review import ReviewRecord
from autodata.state.schemas import CandidateItem, RoleUsage, RoundOutcome, SolverRole, SourceDocument, TaskFamily
from autodata.state.self_instruct import Status, merge_usage

CandidateStatus = Literal["challenger_failed", "format_rejected", "screened_out", "selected"]
DecidedBy = Literal["exact_match", "math_verify", "judge", "no_answer", "unscored"]


class ScienceContext(RunContext):
    """The run context plus the science graph's own knobs (rendered as a form in LangGraph Studio)."""

    default_family: ClassVar[TaskFamily] = TaskFamily.VERIFIABLE
    default_samples: ClassVar[tuple[int, int]] = (4, 4)  # METHOD.md section 4

    task: str = Field("science", description="Task name (this graph serves the science task).")
    candidates: int = Field(4, ge=3, le=5, description="Challengers drafting in parallel each round.")
    evaluate_top: int = Field(2, ge=1, le=5, description="Screened candidates that go on to the solvers.")
    grounding_examples: int = Field(
        3, ge=0, le=10, description="Other rows of the seed's source file shown to challengers for level and format."
    )
    allow_numeric_answers: bool = Field(
        False, description="Keep a reference answer that is a bare integer or a precision-sensitive decimal (off: "
        "such an item is rejected and the challenger is told to rewrite it, whatever the seed's answer is)."
    )


class ScienceCandidate(BaseModel):
    """One challenger's draft and what became of it before evaluation."""

    round: int
    index: int = Field(description="Position among the round's challengers (0-based).")
    strategy: str = Field(description="The angle or difficulty strategy this challenger was given.")
    item: CandidateItem | None = None
    question_type: str = Field("", description="The challenger's label for the kind of question.")
    reasoning_skills: list[str] = Field(default_factory=list, description="Taxonomy tags of the reasoning needed.")
    format_flags: list[str] = Field(
        default_factory=list, description="Format exceptions the run allows explicitly (allow_numeric_answers)."
    )
    status: CandidateStatus = "selected"
    reasons: list[str] = Field(default_factory=list, description="Why it was rejected or screened out.")
    screen_rank: int | None = Field(None, description="1 = the screen's most promising candidate.")
    screen_reason: str = Field("", description="The screen's one-sentence reason for the rank (shown to a reviewer).")
    error: str | None = None


class ScienceAttempt(BaseModel):
    round: int
    candidate: int
    role: SolverRole
    sample_index: int
    answer: str = ""
    final_answer: str = ""
    error: str | None = Field(None, description="The call's error (an endpoint failure raises instead: never here).")


class AnswerCheck(BaseModel):
    """Whether one sample's final answer matches the reference, and which check decided it."""

    round: int
    candidate: int
    role: SolverRole
    sample_index: int
    correct: bool | None = Field(description="None when the sample could not be scored.")
    decided_by: DecidedBy
    reason: str = Field("", description="The judge's reason, or why the sample was not scored.")


class CandidateResult(BaseModel):
    """Exact counts for one evaluated candidate, and the acceptance verdict they give."""

    candidate: int
    weak_correct: int
    weak_samples: int
    strong_correct: int
    strong_samples: int
    outcome: RoundOutcome

    @property
    def gap(self) -> float:
        return self.strong_correct / max(self.strong_samples, 1) - self.weak_correct / max(self.weak_samples, 1)


class ScienceRoundRecord(BaseModel):
    """One round of the science graph: the trajectory is the list of these."""

    round: int
    candidates: list[ScienceCandidate] = Field(default_factory=list)
    attempts: list[ScienceAttempt] = Field(default_factory=list)
    checks: list[AnswerCheck] = Field(default_factory=list)
    results: list[CandidateResult] = Field(default_factory=list)
    accepted_candidate: int | None = None
    weak_avg: float | None = Field(None, description="Share of weak samples correct (accepted or top candidate).")
    strong_avg: float | None = None
    outcome: RoundOutcome
    rule: str | None = Field(
        None, description="Why a round whose counts passed failed: `review` (a reviewer rejected the winner) or "
        "`review_edit` (a reviewer edited its reference answer: scored again as the next round)."
    )
    diagnosis: str = Field("", description="The orchestrator's instruction to the next round's challengers.")
    error: str | None = None


class ScienceState(BaseModel):
    document: SourceDocument = Field(description="The seed problem.")
    grounding: list[str] = Field(default_factory=list, description="Other rows of the seed's file, as examples.")
    round: int = Field(0, description="Current round, 1-based once a round has started.")
    candidates: Annotated[list[ScienceCandidate], operator.add] = Field(default_factory=list)
    screened: list[ScienceCandidate] = Field(default_factory=list, description="This round's candidates after screening.")
    attempts: Annotated[list[ScienceAttempt], operator.add] = Field(default_factory=list)
    checks: Annotated[list[AnswerCheck], operator.add] = Field(default_factory=list)
    results: list[CandidateResult] = Field(default_factory=list, description="This round's evaluated candidates.")
    outcome: RoundOutcome | None = None
    round_error: str | None = None
    rule: str | None = Field(None, description="This round's review rule, if a reviewer failed it (the record's).")
    reviewed: ScienceCandidate | None = Field(
        None, description="This round's winner as the reviewer left it (edited or not); after an edited reference "
        "answer, the next round's only candidate."
    )
    reviews: Annotated[list[ReviewRecord], operator.add] = Field(
        default_factory=list, description="A person's decisions (`review` in the context), one per paused round."
    )
    diagnoses: Annotated[list[str], operator.add] = Field(default_factory=list, description="One per failed round.")
    rounds: Annotated[list[ScienceRoundRecord], operator.add] = Field(default_factory=list, description="The trajectory.")
    usage: Annotated[dict[str, RoleUsage], merge_usage] = Field(default_factory=dict)
    status: Status = "running"
    accepted_item: CandidateItem | None = None
    accepted: ScienceCandidate | None = Field(None, description="The accepted candidate with its labels and flags.")

    def round_review(self) -> ReviewRecord | None:
        """The reviewer's decision on this round's winner, if the round paused for one."""
        return next((r for r in reversed(self.reviews) if r.round == self.round), None)

    def round_candidates(self) -> list[ScienceCandidate]:
        return sorted((c for c in self.candidates if c.round == self.round), key=lambda c: c.index)

    def selected(self) -> list[ScienceCandidate]:
        return [c for c in self.screened if c.status == "selected"]

    def round_attempts(self, candidate: int | None = None) -> list[ScienceAttempt]:
        return [
            a for a in self.attempts
            if a.round == self.round and (candidate is None or a.candidate == candidate)
        ]  # fmt: skip

    def round_checks(self, candidate: int | None = None, role: SolverRole | None = None) -> list[AnswerCheck]:
        return sorted(
            (c for c in self.checks
             if c.round == self.round and (candidate is None or c.candidate == candidate)
             and (role is None or c.role == role)),
            key=lambda c: (c.candidate, c.role, c.sample_index),
        )  # fmt: skip


class ChallengeTask(BaseModel):
    """Payload of one `Send` to a challenger."""

    round: int
    index: int
    strategy: str
    document: SourceDocument
    grounding: list[str]
    diagnoses: list[str]
    earlier_questions: list[str]


class ScienceSolveTask(BaseModel):
    """Payload of one `Send` to the solver: one sample of one role on one candidate."""

    round: int
    candidate: int
    role: SolverRole
    sample_index: int
    item: CandidateItem
    document_id: str

"""Domain records that travel through the graphs and land in the run directory.

Every record is a pydantic model so it validates on the way in, serialises into checkpoints and JSONL
unchanged, and renders as a schema in LangGraph Studio.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["orchestrator", "challenger", "quality_verifier", "weak", "strong", "judge"]
ROLES: tuple[str, ...] = ("orchestrator", "challenger", "quality_verifier", "weak", "strong", "judge")
SolverRole = Literal["weak", "strong"]


class TaskFamily(str, Enum):
    RUBRIC = "rubric"
    VERIFIABLE = "verifiable"


class SourceDocument(BaseModel):
    """One source document (or one problem row of a JSONL file), already read and decoded."""

    doc_id: str = Field(description="Stable id: file stem, or JSONL file stem plus line number.")
    path: str = Field(description="Where the document came from (file path, or path#Lline).")
    title: str = Field(default="", description="A human-readable title, when known.")
    text: str = Field(description="The text the challenger is grounded in (the selected span).")
    content_hash: str = Field(description="sha256 of the whole document's bytes.")
    span: tuple[int, int] = Field(description="Character offsets [start, end) of `text` in the document.")
    total_chars: int = Field(default=0, description="Length of the whole document in characters.")
    reference_answer: str | None = Field(
        default=None, description="For problem rows: the dataset's own answer (a seed, not the item's answer)."
    )


class RubricCriterion(BaseModel):
    criterion: str = Field(description="One observable property of a good (or, with a negative weight, bad) answer.")
    weight: float = Field(description="Positive for wanted content, negative for a mistake that should cost points.")
    category: Literal["positive", "negative"] | None = Field(
        default=None, description="positive: reasoning the answer must show; negative: a specific reasoning error."
    )


class CandidateItem(BaseModel):
    """What the challenger writes in one round."""

    context: str = Field(default="", description="Self-contained background the solver sees (never the answer).")
    question: str = Field(description="The single thing asked.")
    reference_answer: str = Field(description="The answer, expressible in one sentence.")
    rubric: list[RubricCriterion] = Field(default_factory=list, description="Weighted criteria (rubric tasks).")
    question_type: str = Field(default="", description="A short label of the kind of reasoning asked for.")
    reasoning_skills: list[str] = Field(default_factory=list, description="2-3 tags of the skills the question tests.")
    scratchpad: str = Field(
        default="", description="The challenger's analysis before writing the rubric (kept in the trajectory only)."
    )


class QualityVerdict(BaseModel):
    """A quality check's verdict: the in-loop quality verifier ("initial"), the end-of-loop filter ("end_filter";
    "final" in trajectories written before the filter existed) or a person's review ("review")."""

    passed: bool
    reasons: list[str] = Field(default_factory=list, description="Why it failed; empty when it passed.")
    stage: Literal["initial", "final", "end_filter", "review"] = "initial"
    rule: str | None = Field(default=None, description="The first check that failed, by name (e.g. rubric_negatives).")
    # The quality verifier model's four checks (rubric tasks); None where the check did not run.
    leakage: Literal["OK", "LEAKS_ANSWER"] | None = Field(default=None, description="Check 1: answer leakage.")
    question_quality: Literal["GOOD", "TOO_EASY", "RECALL"] | None = Field(
        default=None, description="Check 2: reasoning, single focus, no banned 'explain why/how' phrasing."
    )
    rubric_check: Literal["PASS", "FAIL"] | None = Field(default=None, description="Check 3: the rubric, strictly.")
    rubric_counts: str | None = Field(default=None, description='"Positive: X, Negative: Y, Total: Z".')
    rubric_issues: list[str] = Field(default_factory=list, description="Check 3's issues, one per problem.")
    type_matches: bool | None = Field(default=None, description="Check 4: the question type label fits the question.")
    feedback: str = Field(default="", description="What to fix, in the checker's words.")


class SolverAttempt(BaseModel):
    round: int
    role: SolverRole
    sample_index: int
    answer: str = Field(default="", description="The solver's full reply.")
    final_answer: str = Field(default="", description="The extracted final answer (verifiable tasks).")
    error: str | None = Field(default=None, description="Set when the model call failed after its retries.")


class AttemptScore(BaseModel):
    round: int
    role: SolverRole
    sample_index: int
    score: float | None = Field(description="In [0, 1]; None when the judge failed after its retries.")
    criteria_hits: list[bool] = Field(default_factory=list, description="Judge's per-criterion verdicts (rubric).")
    correct: bool | None = Field(default=None, description="Verifiable tasks: equivalent to the reference.")
    error: str | None = None


class FeedbackCategory(str, Enum):
    TOO_EASY = "TOO EASY"
    FAILED_ON_STRONG = "FAILED ON STRONG"
    FAILED_QUALITY_CHECK = "FAILED QUALITY CHECK"
    MODEL_ERROR = "MODEL ERROR"


class FeedbackEntry(BaseModel):
    round: int
    category: FeedbackCategory
    weak_avg: float | None = None
    strong_avg: float | None = None
    details: list[str] = Field(default_factory=list, description="Facts behind the category (scores, reasons).")
    advice: str = Field(default="", description="The orchestrator model's suggestion for a new angle.")


class RoundOutcome(str, Enum):
    ACCEPTED = "accepted"
    TOO_EASY = "too_easy"
    FAILED_ON_STRONG = "failed_on_strong"
    FAILED_QUALITY_CHECK = "failed_quality_check"
    MODEL_ERROR = "model_error"


class RoleUsage(BaseModel):
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = Field(0, description="Of prompt_tokens, those the server read from its prefix cache.")

    def plus(self, other: "RoleUsage") -> "RoleUsage":
        return RoleUsage(
            calls=self.calls + other.calls,
            failures=self.failures + other.failures,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


class RoundRecord(BaseModel):
    """Everything that happened in one round: the trajectory is the list of these."""

    round: int
    item: CandidateItem | None = None
    quality: list[QualityVerdict] = Field(default_factory=list)
    attempts: list[SolverAttempt] = Field(default_factory=list)
    scores: list[AttemptScore] = Field(default_factory=list)
    weak_avg: float | None = None
    strong_avg: float | None = None
    outcome: RoundOutcome
    rule: str | None = Field(
        default=None, description="The rule that rejected the round (e.g. weak_zero, strong_ceiling, rubric_negatives)."
    )
    feedback: FeedbackEntry | None = None
    error: str | None = None

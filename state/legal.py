"""Typed state, context and records of the legal reasoning graph (METHOD.md section 3).

extractor (once per document) -> writer -> weak x 5 and strong x 3 solvers -> judge per criterion ->
diagnostic packet (code) -> loop judge -> a person's review where the round would be accepted (`review` in the
context) -> decision (post-filter in code, then the loop judge's verdict, the code checks, the reviewer's word).
The extract lives in this state, so improve rounds and resumed runs reuse it and never re-extract.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autodata.state.context import SolverSamples, label_field
from autodata.state.review import ReviewRecord
from autodata.state.schemas import AttemptScore, RoleUsage, RubricCriterion, SolverAttempt, SourceDocument
from autodata.state.self_instruct import merge_usage

WeightClass = Literal["critical", "important", "minor", "negative"]
Suitability = Literal["high", "medium", "low"]
Verdict = Literal["accept", "improve"]
LegalStatus = Literal["running", "accepted", "exhausted", "skipped"]


class LegalShapeRules(BaseModel):
    """Rubric shape and post-filter limits, checked in code (METHOD.md section 3.2 and 3.5)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt [legal] key in autodata.toml is an error

    min_criteria: int = Field(15, ge=1, description="Fewest rubric criteria a legal item may have.")
    max_criteria: int = Field(25, ge=1, description="Most rubric criteria a legal item may have.")
    min_negative: int = Field(1, ge=0, description="Fewest negative criteria (the method: at least one).")
    # The method's per-criterion rules; `autodata demo` turns them off (configs/embedded-demo.toml, [legal]) so a
    # 135M writer's rubric reaches the solvers, the judge and the loop judge at all.
    weight_ranges: bool = Field(True, description="Each weight lies in its weight class's range.")
    capability_tags: bool = Field(
        True, description="snake_case capability tags, and 2-4 primary and 1-3 secondary target capabilities."
    )
    one_proposition: bool = Field(True, description="No criterion states two propositions (checkable cases).")
    max_question_chars: int = Field(1000, ge=100, description="Post-filter: a longer question body goes back.")


class LegalAcceptance(BaseModel):
    """The code checks a loop judge's accept must also pass (its improve is never overruled): the rubric shape as
    METHOD.md section 3 states it (whatever [legal] relaxes), and the scores. A failed check is the round's rule."""

    model_config = ConfigDict(extra="forbid")

    min_gap: float = Field(0.20, ge=0.0, le=1.0, description="Rule legal_gap: strong mean minus weak mean >= this.")
    strong_min_avg: float = Field(
        0.30, ge=0.0, le=1.0, description="Rule legal_strong_floor: the strong samples' mean earns at least this "
        "(the writer aims at 30-60% of the rubric for a frontier model)."
    )
    weak_spread: bool = Field(
        True, description="Rule legal_weak_spread: the weak scores are not all equal (GRPO learns from the spread)."
    )


class LegalContext(SolverSamples):
    """What one run of the legal graph is configured with (rendered as a form in LangGraph Studio).

    The shared solver and judge nodes read it as a `RunContext` (task, sample counts, prompts_dir, run_id): the
    sample fields come from the same `SolverSamples` base; the CS loop's acceptance thresholds have no part in
    the legal decision.
    """

    default_samples: ClassVar[tuple[int, int]] = (5, 3)  # METHOD.md section 3
    # [policy] keys of autodata.toml that mean the same for the legal rubric's shape.
    policy_shape_keys: ClassVar[dict[str, str]] = {
        "min_rubric_criteria": "min_criteria", "max_rubric_criteria": "max_criteria",
        "min_negative_criteria": "min_negative",
    }  # fmt: skip

    task: str = Field("legal", description="Always `legal` for this graph.")
    max_improve_rounds: int = Field(15, ge=0, le=50, description="Hard cap on improve rounds after the first.")
    shape: LegalShapeRules = Field(default_factory=LegalShapeRules, description="Rubric shape and post-filter.")
    acceptance: LegalAcceptance = Field(
        default_factory=LegalAcceptance, description="Code checks a loop judge's accept must also pass."
    )
    prompts_dir: str | None = label_field(
        None, "Directory of prompt files overriding the shipped prompts/ (e.g. a promoted version)."
    )
    run_id: str = label_field("", "Free-form run label, copied into trace metadata.")

    @classmethod
    def section_keys(cls) -> list[str]:
        """The [legal] section sets the rubric shape rules and the acceptance checks."""
        return sorted({*LegalShapeRules.model_fields, *LegalAcceptance.model_fields})

    @classmethod
    def for_run(cls, values: dict[str, Any], section: dict[str, Any]) -> Self:
        """Sample counts as for every task; `--rounds R` allows R-1 improve rounds; the [policy] rubric sizes and
        negative count, then the [legal] section, set the shape rules. The CS loop's thresholds do not apply."""
        own = {key: values[key] for key in ("task", "family", "prompts_dir", "run_id", "review") if key in values}
        sizes = {key: values[key] for key in ("samples", "weak_samples", "strong_samples") if values.get(key)}
        if values.get("max_rounds"):
            own["max_improve_rounds"] = values["max_rounds"] - 1
        policy = values.get("policy") or {}
        shape = {cls.policy_shape_keys[k]: v for k, v in policy.items() if k in cls.policy_shape_keys}
        acceptance = {key: value for key, value in section.items() if key in LegalAcceptance.model_fields}
        shape.update({key: value for key, value in section.items() if key not in acceptance})  # [legal] wins
        return cls(**own, **sizes, shape=LegalShapeRules(**shape), acceptance=LegalAcceptance(**acceptance))


# --- what the models write ------------------------------------------------------------------------------


class LegalExtract(BaseModel):
    """The extractor's suitability decision and, when suitable, the structured extract of the document."""

    suitable_for_synthetic_question: bool = Field(
        description="true when the document states or applies a substantive principle an expert could apply to "
        "other facts, explains why, and transfers to a modern client's problem"
    )
    suitability_reason: str = Field(description="One or two sentences: why it is or is not suitable.")
    document_type: str = Field(default="", description="e.g. appellate opinion, lease, statute section.")
    topic_keywords: list[str] = Field(default_factory=list, description="3-5 keywords of the legal topic.")
    issues: list[str] = Field(default_factory=list, description="The concrete legal questions decided or governed.")
    facts: str = Field(default="", description="2-3 paragraphs: parties, jurisdiction, posture, dates, conduct.")
    holdings: list[str] = Field(
        default_factory=list,
        description="Conclusions with their reasoning; for contracts and statutes the key provisions and "
        "obligations.",
    )


class LegalCriterion(RubricCriterion):
    capability: str = Field(description="snake_case tag of the capability this criterion tests.")
    weight_class: WeightClass = Field(
        description="critical (+8..+10), important (+5..+7), minor (+2..+4) or negative (-1..-10)."
    )


class TargetCapabilities(BaseModel):
    primary: list[str] = Field(default_factory=list, description="2-4 capability tags the item mainly tests.")
    secondary: list[str] = Field(default_factory=list, description="1-3 further capability tags.")
    rewarded: str = Field(default="", description="One sentence: what the rubric rewards.")
    penalised: str = Field(default="", description="One sentence: what the rubric penalises.")


class LegalItem(BaseModel):
    """A client's question in a new scenario and its capability-tagged rubric."""

    question: str = Field(description="The question in the voice of the person living the new scenario.")
    rubric: list[LegalCriterion] = Field(description="15-25 criteria, one proposition each.")
    target_capabilities: TargetCapabilities = Field(default_factory=TargetCapabilities)


class LoopJudgeVerdict(BaseModel):
    """The loop judge's reading of the diagnostic packet and its verdict."""

    weak_pattern: str = Field(description="What the weak samples did, with evidence from individual samples.")
    strong_pattern: str = Field(description="What the strong samples did, with evidence from individual samples.")
    gap_interpretation: str = Field(
        description="Whether the weak/strong gap is fertile ground for RL or a knowledge ceiling, and why."
    )
    rubric_concerns: str = Field(default="", description="Problems with the rubric (subjective, recall-pinned, eased).")
    grpo_suitability: Suitability = Field(
        description="high: the weak samples spread on reasoning steps GRPO can reward; medium: some usable spread, "
        "or the signal sits on a few criteria; low: little spread, or it comes from recall or rubric noise."
    )
    verdict: Verdict = Field(description="accept or improve; improve when unsure.")
    verdict_reason: str = Field(description="Why this verdict.")
    suggestion_for_writer: str = Field(default="", description="Concrete instruction for the writer (on improve).")

    @model_validator(mode="after")
    def _suggestion_required_on_improve(self) -> "LoopJudgeVerdict":
        if self.verdict == "improve" and not self.suggestion_for_writer.strip():
            raise ValueError("suggestion_for_writer is required when the verdict is improve")
        return self


# --- what code computes ---------------------------------------------------------------------------------


class CapabilityRow(BaseModel):
    capability: str
    criteria: int
    weak_pct: float | None = Field(description="Share of the capability's positive weight weak samples earned, %.")
    strong_pct: float | None
    gap_pct: float | None


class CriterionResult(BaseModel):
    index: int
    criterion: str
    capability: str
    weight: float
    weak_hits: int
    weak_graded: int
    strong_hits: int
    strong_graded: int


class SampleResult(BaseModel):
    role: str
    sample_index: int
    score: float | None
    answer_excerpt: str = ""
    error: str | None = None


class DiagnosticPacket(BaseModel):
    weak_avg: float | None
    strong_avg: float | None
    gap: float | None
    weak_std: float | None = Field(description="Population std of the weak scores: the spread GRPO learns from.")
    weak_valid: int
    strong_valid: int
    samples: list[SampleResult] = Field(default_factory=list)
    criteria: list[CriterionResult] = Field(default_factory=list)
    capabilities: list[CapabilityRow] = Field(default_factory=list, description="Sorted by weak % ascending.")
    post_filter_flags: list[str] = Field(default_factory=list)
    rubric_change: str = Field(default="", description="Criteria count and weights against the previous round.")


# rejected_by_rule: the loop judge said accept and a code check (LegalAcceptance) did not hold.
# rejected_by_review: it would have been accepted, and the person reviewing it rejected it (rule `review`).
# review_edit: it would have been accepted, and the reviewer edited its rubric: the round's scores no longer
# describe the item, which is scored again as the next round's (rule `review_edit`).
LegalOutcome = Literal[
    "accepted", "improve", "post_filter", "rubric_shape", "rejected_by_rule", "rejected_by_review", "review_edit",
    "model_error",
]


class LegalRoundRecord(BaseModel):
    """Everything one round did; the trajectory is the list of these."""

    round: int
    item: LegalItem | None = None
    shape_violations: list[str] = Field(default_factory=list)
    attempts: list[SolverAttempt] = Field(default_factory=list)
    scores: list[AttemptScore] = Field(default_factory=list)
    packet: DiagnosticPacket | None = None
    judge: LoopJudgeVerdict | None = None
    weak_avg: float | None = None
    strong_avg: float | None = None
    outcome: LegalOutcome
    rule: str | None = Field(
        None, description="What overruled an accept: a code check (e.g. legal_gap) or a reviewer (review, review_edit)."
    )
    rule_reasons: list[str] = Field(
        default_factory=list, description="What the failed code checks found, or the reviewer's reason."
    )
    error: str | None = None


class LegalState(BaseModel):
    document: SourceDocument = Field(description="The legal document (opinion, contract, statute).")
    extract: LegalExtract | None = Field(None, description="The extractor's output; computed once per document.")
    round: int = Field(0, description="Current round, 1-based once the writer has run.")
    item: LegalItem | None = Field(None, description="The current round's question and rubric.")
    shape_violations: list[str] = Field(default_factory=list, description="Current round's rubric shape problems.")
    packet: DiagnosticPacket | None = None
    judge: LoopJudgeVerdict | None = None
    round_error: str | None = Field(None, description="A model failure that ended the current round.")
    attempts: Annotated[list[SolverAttempt], operator.add] = Field(default_factory=list)
    scores: Annotated[list[AttemptScore], operator.add] = Field(default_factory=list)
    rounds: Annotated[list[LegalRoundRecord], operator.add] = Field(default_factory=list)
    usage: Annotated[dict[str, RoleUsage], merge_usage] = Field(default_factory=dict)
    status: LegalStatus = "running"
    skip_reason: str = ""
    accepted_item: LegalItem | None = None
    reviews: Annotated[list[ReviewRecord], operator.add] = Field(
        default_factory=list, description="A person's decisions on the items the loop would have accepted."
    )
    edited_item: LegalItem | None = Field(
        None, description="A reviewer's edit of the rubric, waiting to be scored as the next round's item."
    )

    def attempts_for(self, role: str, round_: int | None = None) -> list[SolverAttempt]:
        r = self.round if round_ is None else round_
        return sorted((a for a in self.attempts if a.role == role and a.round == r), key=lambda a: a.sample_index)

    def scores_for(self, role: str, round_: int | None = None) -> list[AttemptScore]:
        r = self.round if round_ is None else round_
        return sorted((s for s in self.scores if s.role == role and s.round == r), key=lambda s: s.sample_index)

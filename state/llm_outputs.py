"""Structured-output schemas the models are asked to fill (function calling / JSON schema)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field, create_model

from autodata.state.schemas import RubricCriterion


class RubricItemDraft(BaseModel):
    """A grounded question with reference answer and weighted grading rubric."""

    context: str = Field(description="Background the solver needs; must not reveal the answer.")
    question: str = Field(description="One question that needs reasoning.")
    reference_answer: str = Field(description="The correct answer in one sentence.")
    rubric: list[RubricCriterion] = Field(description="Weighted grading criteria (negative weight = a mistake).")


class ResearchItemDraft(BaseModel):
    """A reasoning question on a research paper: its kind, the item, the analysis behind the rubric, the rubric.

    Fields are listed in the order they should be written: the scratchpad comes before the criteria it informs.
    """

    question_type: str = Field(
        default="", description="One of the question types the prompt lists, e.g. 'failure mode prediction'."
    )
    reasoning_skills: list[str] = Field(
        default_factory=list, description="2-3 snake_case tags, e.g. causal_reasoning, design_tradeoff."
    )
    context: str = Field(description="Background the solver needs (area, challenge, why hard); never the finding.")
    question: str = Field(description="One question that needs reasoning, not recall; not multi-part.")
    reference_answer: str = Field(description="The correct answer, from the paper's findings, stated concisely.")
    scratchpad: str = Field(
        default="",
        description="Analysis written before the rubric: the critical technical insights of the answer, the errors "
        "a weak model would likely make, what separates deep from surface understanding.",
    )
    rubric: list[RubricCriterion] = Field(
        description="10-15 criteria: 7-10 positive (weight 1..10), 3-5 negative (weight -1..-10), each with category."
    )


class VerifiableItemDraft(BaseModel):
    """A problem with a short, exactly checkable answer."""

    question: str = Field(description="The full problem statement, asking one thing.")
    reference_answer: str = Field(description="The final answer only: a number, expression or short phrase.")
    context: str = Field(default="", description="Extra data needed to solve the problem, or empty.")


class QualityAssessment(BaseModel):
    """Whether a candidate item is fit for the dataset."""

    passed: bool = Field(description="true if the item is fit for the dataset")
    reasons: list[str] = Field(default_factory=list, description="Short reasons for rejecting; empty if passed.")


class RubricGrades(BaseModel):
    """One true/false verdict per criterion, in the order given."""

    verdicts: list[bool] = Field(description="verdicts[i] is true when the answer meets criterion i+1")


@lru_cache(maxsize=64)
def grades_schema(criteria_count: int) -> type[RubricGrades]:
    """RubricGrades that only validates with exactly one verdict per criterion.

    A wrong count is then a malformed answer, which the model layer re-asks like any other; for endpoints that
    constrain output by the JSON schema (llama.cpp's grammar) the count is enforced while decoding.
    """
    description = RubricGrades.model_fields["verdicts"].description
    verdicts = (list[bool], Field(min_length=criteria_count, max_length=criteria_count, description=description))
    return create_model("RubricGrades", __base__=RubricGrades, __doc__=RubricGrades.__doc__, verdicts=verdicts)

"""Structured outputs the science graph asks its models for (challenger draft, screen ranking, answer match)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ScienceItemDraft(BaseModel):
    """A new problem with a short answer that can be checked exactly, labelled by kind."""

    question_type: str = Field(description="One of the question types the prompt lists, e.g. 'limiting case'.")
    reasoning_skills: list[str] = Field(
        default_factory=list, description="2-3 snake_case tags of the reasoning needed, e.g. multi_step_derivation."
    )
    question: str = Field(description="The full problem statement, asking exactly one thing.")
    reference_answer: str = Field(
        description="The answer in one sentence at most: an exact expression, a named entity or a short phrase."
    )
    context: str = Field(default="", description="Extra data needed to solve the problem, or empty.")


class ScreenEntry(BaseModel):
    candidate: int = Field(description="The candidate's number as shown.")
    reason: str = Field(description="One sentence: why it ranks here.")


class ScreenRanking(BaseModel):
    """The candidates ranked from most to least promising."""

    ranking: list[ScreenEntry] = Field(description="Every candidate once, most promising first.")


class AnswerMatch(BaseModel):
    """Whether a final answer says the same thing as the reference answer."""

    equivalent: bool = Field(description="true only if the answer means the same as the reference answer")
    reason: str = Field(default="", description="One short sentence.")

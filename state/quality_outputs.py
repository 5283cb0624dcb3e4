"""Structured outputs of the quality checks on rubric items: the in-loop quality verifier's four checks and
the end-of-loop filter's report. Whether an item passes is decided in code from these fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class QualityReport(BaseModel):
    """The four checks of a candidate item, each with its own verdict; the item passes only if all four pass."""

    leakage: Literal["OK", "LEAKS_ANSWER"] = Field(
        description="Check 1: LEAKS_ANSWER if a reasonable answer can be assembled from context + question alone."
    )
    question_quality: Literal["GOOD", "TOO_EASY", "RECALL"] = Field(
        description="Check 2: GOOD (one focused reasoning question), TOO_EASY (e.g. 'explain why/how X works'), "
        "RECALL (asks what/which/how many the paper states)."
    )
    rubric: Literal["PASS", "FAIL"] = Field(
        description="Check 3: FAIL if any criterion tests format or style, needs no reasoning beyond the context, "
        "or (negative) names no specific reasoning error."
    )
    rubric_issues: list[str] = Field(default_factory=list, description="Check 3: each problem; empty on PASS.")
    type_matches: bool = Field(description="Check 4: true if the question type label describes the question.")
    feedback: str = Field(default="", description="What to fix for every failed check; empty when all pass.")


class EndFilterReport(BaseModel):
    """The end-of-loop filter's strict second look at an accepted item; any true flag removes it."""

    answer_leakage: bool = Field(
        description="true if context + question give away the reference answer or its key step, even indirectly."
    )
    context_too_short: bool = Field(
        description="true if the context is too thin for a solver to understand the setting and what is asked."
    )
    rubric_malformed: bool = Field(
        description="true if any criterion is vague, duplicated, contradicts the reference answer, or is weighted "
        "against its importance."
    )
    reasons: list[str] = Field(default_factory=list, description="One line per problem found; empty when none.")

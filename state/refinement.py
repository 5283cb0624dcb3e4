"""What the challenger and the orchestrator are shown about earlier rounds, as plain records.

nodes/self_instruct/refinement.py builds them from a document's rounds (numbers already formatted: prompt
templates cannot call functions); the meta-optimizer's render check fills them with samples.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EarlierQuestion(BaseModel):
    """One earlier question of this document, verbatim, with the numbers of its round."""

    model_config = ConfigDict(frozen=True)

    round: int
    question: str
    question_type: str
    weak_avg: str
    strong_avg: str
    gap: str
    reason: str
    rule: str = ""  # the rule that rejected the round (weak_zero, strong_ceiling, rubric_negatives, ...)
    verdict: str = ""  # what that rule means and which way the next question must move, in words


class RefinementMemory(BaseModel):
    """Every earlier question of the document, grouped by why it failed (rounds in order within a group).

    Groups follow the direction the next question must move, not the stage that rejected it: a question every
    weak sample scored 0 on is out of the weak model's reach (not too easy), and one the strong model aced is
    too easy for both (not failed on strong)."""

    model_config = ConfigDict(frozen=True)

    too_easy: tuple[EarlierQuestion, ...] = ()
    out_of_weak_reach: tuple[EarlierQuestion, ...] = ()
    too_easy_for_both: tuple[EarlierQuestion, ...] = ()
    failed_on_strong: tuple[EarlierQuestion, ...] = ()
    failed_quality_check: tuple[EarlierQuestion, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (
            self.too_easy or self.out_of_weak_reach or self.too_easy_for_both or self.failed_on_strong
            or self.failed_quality_check
        )


class CriterionResult(BaseModel):
    """One rubric criterion and which samples of each solver met it (a negative one: made that error)."""

    model_config = ConfigDict(frozen=True)

    number: int
    criterion: str
    weight: str
    category: str
    weak: str
    strong: str

"""Typed state and context of the glossary graph: a writer drafts a term question, a checker decides in code."""

from __future__ import annotations

import operator
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from autodata.state.context import RunContext
from autodata.state.schemas import RoleUsage, SourceDocument, TaskFamily
from autodata.state.self_instruct import merge_usage

GlossaryOutcome = Literal["accepted", "too_easy", "too_hard", "model_error"]


class GlossaryContext(RunContext):
    """A glossary run's knobs: the common ones, and the [glossary] TOML section's own."""

    default_family: ClassVar[TaskFamily] = TaskFamily.VERIFIABLE
    default_samples: ClassVar[tuple[int, int]] = (2, 1)

    task: str = Field("glossary", description="Always `glossary` for this graph.")
    max_answer_words: int = Field(3, ge=1, le=10, description="The longest term the writer may ask for.")


class GlossaryEntry(BaseModel):
    """What the writer drafts: a definition that names no term, and the term as the reference answer."""

    term: str = Field(description="The term the document defines.")
    question: str = Field(description="The definition, asking which term it defines; the term itself is not named.")
    reference_answer: str = Field(description="The term, exactly as the document spells it.")


class GlossaryRound(BaseModel):
    round: int
    entry: GlossaryEntry | None = None
    weak_correct: list[bool] = Field(default_factory=list)
    strong_correct: list[bool] = Field(default_factory=list)
    outcome: GlossaryOutcome
    rule: str | None = None  # why a round was not accepted, for the run's rejection counts


class GlossaryState(BaseModel):
    document: SourceDocument
    round: int = 0
    draft: GlossaryEntry | None = None
    status: Literal["running", "accepted", "exhausted"] = "running"
    rounds: Annotated[list[GlossaryRound], operator.add] = Field(default_factory=list)
    usage: Annotated[dict[str, RoleUsage], merge_usage] = Field(default_factory=dict)

    @property
    def accepted_item(self) -> GlossaryEntry:
        assert self.draft is not None and self.status == "accepted"
        return self.draft

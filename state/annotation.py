"""Structured outputs of the question-type annotator (`autodata annotate`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model


class QuestionType(BaseModel):
    name: str = Field(description="A short name for the type of question, 1 to 4 words.")
    description: str = Field(description="One sentence: what questions of this type ask for.")


class ProposedTypes(BaseModel):
    """Types of question found in the examples."""

    # At least one: an empty list is re-asked by the model layer like any malformed answer.
    types: list[QuestionType] = Field(
        min_length=1, description="The question types, each with a name and description."
    )


def type_choice_schema(names: list[str]) -> type[BaseModel]:
    """A schema whose only field must be one of `names`: anything else is a parse failure, re-asked."""
    return create_model(
        "QuestionTypeChoice",
        __doc__="The one type the question belongs to.",
        type=(Literal[tuple(names)], Field(description="Exactly one of the type names, spelled as given.")),
    )

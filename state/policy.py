"""The acceptance policy, as data. Defaults are the paper's; a run may override any field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AcceptancePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Rubric tasks: averages of per-attempt scores in [0, 1].
    strong_min_avg: float = Field(0.65, description="Rubric: the strong solver's mean score must reach this.")
    weak_max_avg: float = Field(0.50, description="Rubric: the weak solver's mean score must stay below this.")
    min_gap: float = Field(0.20, description="Rubric: strong mean minus weak mean must reach this.")
    # Verifiable tasks: fractions of samples judged equivalent to the reference (3/4 and 1/4 with k=4).
    strong_min_correct_fraction: float = Field(0.75, description="Verifiable: share of strong samples correct.")
    weak_max_correct_fraction: float = Field(0.25, description="Verifiable: share of weak samples correct, at most.")
    # Format rules for rubric items.
    min_rubric_criteria: int = Field(10, description="Rubric items need at least this many criteria.")
    max_rubric_criteria: int = Field(20, description="Rubric items need at most this many criteria.")
    max_answer_words: int = Field(60, description="The reference answer must fit in one sentence of this length.")

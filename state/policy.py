"""The acceptance policy, as data: a named preset of the paper's thresholds, any of which a run may override.

Presets (METHOD.md section 2): `deployed` (figure 7, the default for cs-research), `prose` (section 3.1) and
`meta` (section 4). Each threshold field is one rule with a fixed comparison; a preset sets the fields it uses
and leaves the others unset (a rule it does not have). `AcceptancePolicy.resolved` fills every unset field
from the preset (a task's default preset comes from the task registry, through the run context), so the run context (and config.json) holds the thresholds actually applied. The checks
themselves are in `autodata.rules.scoring`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PresetName = Literal["deployed", "prose", "meta"]
PRESET_NAMES: tuple[str, ...] = ("deployed", "prose", "meta")
DEFAULT_PRESET: PresetName = "deployed"

PRESETS: dict[str, dict[str, Any]] = {
    "deployed": {
        "weak_max_avg": 0.65, "weak_max_score": 0.75, "no_weak_zero": True,
        "strong_min_avg": 0.60, "strong_avg_below": 0.95, "no_strong_zero": True, "min_gap": 0.20,
    },
    "prose": {"weak_avg_below": 0.50, "strong_min_avg": 0.65, "min_gap": 0.20},
    "meta": {
        "weak_max_avg": 0.65, "weak_max_score": 0.75, "strong_min_avg": 0.60, "strong_max_avg": 0.95, "min_gap": 0.20,
    },
}  # fmt: skip


class AcceptancePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: PresetName | None = Field(
        None, description="Threshold set: deployed (paper figure 7; cs-research default), prose (section 3.1) or "
        "meta (section 4). Unset: the task's default. Any threshold below overrides the preset's."
    )
    # Rubric tasks: per-attempt scores in [0, 1]. Unset: the preset's value (or no such rule in the preset).
    weak_max_avg: float | None = Field(None, description="Rule weak_avg_ceiling: weak mean <= this.")
    weak_avg_below: float | None = Field(None, description="Rule weak_avg_ceiling (strict): weak mean < this.")
    weak_max_score: float | None = Field(None, description="Rule weak_max_ceiling: best weak score <= this.")
    no_weak_zero: bool | None = Field(None, description="Rule weak_zero: no weak score may be 0.")
    strong_min_avg: float | None = Field(None, description="Rule strong_floor: strong mean >= this.")
    strong_max_avg: float | None = Field(None, description="Rule strong_ceiling: strong mean <= this.")
    strong_avg_below: float | None = Field(None, description="Rule strong_ceiling (strict): strong mean < this.")
    no_strong_zero: bool | None = Field(None, description="Rule strong_zero: no strong score may be 0.")
    min_gap: float | None = Field(None, description="Rule gap: strong mean minus weak mean >= this.")
    # Verifiable tasks: fractions of samples judged equivalent to the reference (3/4 and 1/4 with k=4).
    strong_min_correct_fraction: float = Field(0.75, description="Verifiable: share of strong samples correct.")
    weak_max_correct_fraction: float = Field(0.25, description="Verifiable: share of weak samples correct, at most.")
    # Rubric shape (checked in code before the quality verifier model runs) and format rules.
    min_rubric_criteria: int = Field(10, description="Rubric items need at least this many criteria.")
    max_rubric_criteria: int = Field(20, description="Rubric items need at most this many criteria.")
    min_positive_criteria: int = Field(4, description="Rubric items need at least this many positive criteria.")
    min_negative_criteria: int = Field(3, description="Rubric items need at least this many negative criteria.")
    max_abs_weight: int = Field(10, description="Criterion weights are integers in 1..N (positive) or -N..-1.")
    max_answer_words: int = Field(
        60, description="Verifiable items: the reference answer must fit in one sentence of this length (rubric "
        "items have no such rule: METHOD.md section 2 gives none)."
    )
    min_context_words: int = Field(30, description="End-of-loop filter: a shorter context is too short.")
    end_filter_feedback: bool = Field(
        False, description="End-of-loop filter: off (the method), a rejected item is dropped and the document ends "
        "`filtered`; on, the rejection starts a new round and its reasons reach the challenger (the loop then learns "
        "to pass the filter, which hides its attrition)."
    )

    def resolved(self, default_preset: str = DEFAULT_PRESET) -> AcceptancePolicy:
        """This policy with its preset named (`default_preset` if unset) and every unset threshold filled
        from it. Idempotent: a resolved policy resolves to itself."""
        preset = self.preset or default_preset
        filled = {name: value for name, value in PRESETS[preset].items() if getattr(self, name) is None}
        return self.model_copy(update={"preset": preset, **filled})

"""The per-run configuration a graph receives (LangGraph `context_schema`).

Only plain, serialisable knobs live here so LangGraph Studio can render the form; models are resolved
from settings (`autodata.toml` / environment) by `autodata.llm.models`, never passed through the context.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import SolverRole

# (weak, strong) samples per round when a run sets none: the method's 3 + 3 for cs-research (METHOD.md section 2),
# 5 + 3 for legal (section 3; the legal graph's LegalContext reads it too) and 4 + 4 for science (section 4).
TASK_SAMPLES: dict[str, tuple[int, int]] = {"cs-research": (3, 3), "legal": (5, 3), "science": (4, 4)}
DEFAULT_SAMPLES = (4, 4)


class SolverSamples(BaseModel):
    """The per-role sample counts every graph's context carries, resolved the same way in each."""

    task: str = Field("cs-research", description="Task name: cs-research, legal (rubric) or science (verifiable).")
    weak_samples: int | None = Field(
        None, ge=1, le=32,
        description="Answers sampled from the weak solver per round (unset: the task's; cs-research 3, legal 5).",
    )  # fmt: skip
    strong_samples: int | None = Field(
        None, ge=1, le=32,
        description="Answers sampled from the strong solver per round (unset: the task's; cs-research 3, legal 3).",
    )  # fmt: skip
    samples: int | None = Field(
        None, ge=1, le=32, description="Both solvers' samples at once (older option); an explicit weak_samples or "
        "strong_samples wins over it."
    )

    @model_validator(mode="before")
    @classmethod
    def _samples_for_both_solvers(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("samples") is not None:
            unset = [key for key in ("weak_samples", "strong_samples") if data.get(key) is None]
            data = {**data, **dict.fromkeys(unset, data["samples"])}
        return data

    @model_validator(mode="after")
    def _task_sample_defaults(self) -> SolverSamples:
        # The counts actually applied, so Studio, checkpoints and config.json all show them.
        weak, strong = TASK_SAMPLES.get(self.task, DEFAULT_SAMPLES)
        self.weak_samples = weak if self.weak_samples is None else self.weak_samples
        self.strong_samples = strong if self.strong_samples is None else self.strong_samples
        return self

    def samples_for(self, role: SolverRole) -> int:
        count = self.weak_samples if role == "weak" else self.strong_samples
        assert count is not None  # set by the validator
        return count


class RunContext(SolverSamples):
    max_rounds: int = Field(
        20, ge=1, le=50, description="Round budget per document (a document stops early once an item is accepted)."
    )
    prompts_dir: str | None = Field(
        None, description="Directory of prompt files overriding the shipped prompts/ (e.g. a promoted version)."
    )
    policy: AcceptancePolicy = Field(
        default_factory=AcceptancePolicy, description="Acceptance preset and thresholds (unset: the preset's)."
    )
    run_id: str = Field("", description="Free-form run label, copied into trace metadata.")

    @model_validator(mode="after")
    def _resolve_task_policy(self) -> RunContext:
        # The thresholds actually applied, so Studio, checkpoints and config.json all show them.
        self.policy = self.policy.for_task(self.task)
        return self

"""The per-run configuration a graph receives (LangGraph `context_schema`).

Only plain, serialisable knobs live here so LangGraph Studio can render the form; models are resolved
from settings (`autodata.toml` / environment) by `autodata.llm.models`, never passed through the context.

A context knows what its task is without asking the task registry (which sits above the graphs): the registry
passes its task's family, sample counts and preset (`TaskDefaults`) when it builds a run's context, and a
context built without them (a served graph's form) falls back to its type's class-level defaults.

Every field either shapes the data (a changed value refuses a resume) or is a label (`label_field`: the run's
name, where its prompts were read from); `label_names` lists a context type's labels for the resume check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, Field, model_validator

from autodata.state.policy import DEFAULT_PRESET, AcceptancePolicy
from autodata.state.schemas import SolverRole, TaskFamily

LABEL = "label"  # json_schema_extra marker of a field that names or locates a run but does not shape its items


def label_field(default: Any, description: str) -> Any:
    """A context field that labels the run (changing it does not change the items, so resuming is fine)."""
    return Field(default, description=description, json_schema_extra={LABEL: True})


def label_names(context_type: type[BaseModel]) -> set[str]:
    """The fields of `context_type` marked with `label_field`."""
    return {
        name for name, info in context_type.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(LABEL)
    }  # fmt: skip


@dataclass(frozen=True)
class TaskDefaults:
    """What a task sets in its runs' contexts where the run sets nothing: filled in by the task registry."""

    family: TaskFamily
    samples: tuple[int, int]  # (weak, strong) per round
    preset: str = DEFAULT_PRESET  # the acceptance preset
    description: str = ""  # what the task's items are (a context with a `task_description` field reads it)

    def context_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` (a run's explicit context values) with this task's family, counts and preset under them."""
        filled = {**values, "family": values.get("family") or self.family.value}
        both = values.get("samples")
        for role, default in zip(("weak_samples", "strong_samples"), self.samples, strict=True):
            if filled.get(role) is None and both is None:
                filled[role] = default
        policy = dict(values.get("policy") or {})
        filled["policy"] = {**policy, "preset": policy.get("preset") or self.preset}
        if self.description:
            filled.setdefault("task_description", self.description)
        return filled


class SolverSamples(BaseModel):
    """The per-role sample counts every graph's context carries, resolved the same way in each."""

    # This context type's task facts when a run sets none (a served graph's form); the registry sets its own.
    default_family: ClassVar[TaskFamily] = TaskFamily.RUBRIC
    default_samples: ClassVar[tuple[int, int]] = (3, 3)  # the method's 3 + 3 (METHOD.md section 2)

    task: str = Field("cs-research", description="Task name, as `--task` takes it.")
    family: TaskFamily | None = Field(
        None, description="rubric or verifiable: how items are written and scored (unset: this graph's)."
    )
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
    review: bool = Field(
        False, description="Pause where the loop would keep an item, for a person to approve, edit or reject it "
        "(resume the thread with {\"decision\": \"approve\"}, an edit or a reject with a reason)."
    )

    @model_validator(mode="before")
    @classmethod
    def _samples_for_both_solvers(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("samples") is not None:
            unset = [key for key in ("weak_samples", "strong_samples") if data.get(key) is None]
            data = {**data, **dict.fromkeys(unset, data["samples"])}
        return data

    @model_validator(mode="after")
    def _task_defaults(self) -> SolverSamples:
        # The family and counts actually applied, so Studio, checkpoints and config.json all show them.
        self.family = self.family or self.default_family
        weak, strong = self.default_samples
        self.weak_samples = weak if self.weak_samples is None else self.weak_samples
        self.strong_samples = strong if self.strong_samples is None else self.strong_samples
        return self

    def samples_for(self, role: SolverRole) -> int:
        count = self.weak_samples if role == "weak" else self.strong_samples
        assert count is not None  # set by the validator
        return count

    @property
    def task_family(self) -> TaskFamily:
        assert self.family is not None  # set by the validator
        return self.family

    @classmethod
    def section_keys(cls) -> list[str]:
        """The keys of this context's TOML section (`[<section>]` of the task that uses it): its own knobs."""
        return sorted(set(cls.model_fields) - set(RunContext.model_fields))

    @classmethod
    def for_run(cls, values: dict[str, Any], section: dict[str, Any]) -> Self:
        """This context for one run: the run's common values (task, samples, rounds, policy, prompts) over the
        TOML section's knobs. A context whose section is shaped otherwise (legal's rubric shape) overrides it."""
        return cls.model_validate({**section, **values})


class RunContext(SolverSamples):
    max_rounds: int = Field(
        20, ge=1, le=50, description="Round budget per document (a document stops early once an item is accepted)."
    )
    # The prompt files' content is in the run's prompts_hash; where they were read from is only a label.
    prompts_dir: str | None = label_field(
        None, "Directory of prompt files overriding the shipped prompts/ (e.g. a promoted version)."
    )
    policy: AcceptancePolicy = Field(
        default_factory=AcceptancePolicy, description="Acceptance preset and thresholds (unset: the preset's)."
    )
    run_id: str = label_field("", "Free-form run label, copied into trace metadata.")

    @model_validator(mode="after")
    def _resolve_policy(self) -> RunContext:
        # The thresholds actually applied, so Studio, checkpoints and config.json all show them.
        self.policy = self.policy.resolved()
        return self

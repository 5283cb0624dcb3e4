"""The per-run configuration a graph receives (LangGraph `context_schema`).

Only plain, serialisable knobs live here so LangGraph Studio can render the form; models are resolved
from settings (`autodata.toml` / environment) by `autodata.models`, never passed through the context.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from autodata.state.policy import AcceptancePolicy


class RunContext(BaseModel):
    task: str = Field("cs-research", description="Task name: cs-research, legal (rubric) or science (verifiable).")
    samples: int = Field(4, ge=1, le=32, description="Answers sampled per solver (k) in every round.")
    max_rounds: int = Field(3, ge=1, le=50, description="Round budget per document before giving up.")
    prompts_dir: str | None = Field(
        None, description="Directory of prompt files overriding the shipped prompts/ (e.g. a promoted version)."
    )
    policy: AcceptancePolicy = Field(default_factory=AcceptancePolicy, description="Acceptance thresholds.")
    run_id: str = Field("", description="Free-form run label, copied into trace metadata.")

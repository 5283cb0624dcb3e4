"""Typed state of the meta-optimizer: the outer graph that rewrites prompt files and re-evaluates them.

The population is append-only: every version, every evaluation and every iteration is a record added by a
reducer, so W iterations running at once never overwrite each other and a checkpoint holds the full lineage.
A version's score is derived from its validation evaluations, never stored twice.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from autodata.state.schemas import RoleUsage

VersionStatus = Literal["root", "candidate", "kept", "discarded"]
IterationStatus = Literal["kept", "discarded", "invalid", "failed"]
Split = Literal["minibatch", "validation"]


class MetaContext(BaseModel):
    """Per-run configuration of the meta-optimizer (LangGraph `context_schema`)."""

    task: str = Field("cs-research", description="Task name: cs-research, legal or science.")
    train: str = Field("", description="Training documents (folder or file); minibatches are drawn from them.")
    val: str = Field("", description="Validation documents (folder or file); every version is scored on all of them.")
    run_dir: str = Field("runs/meta", description="Where versions, evaluations, history and checkpoints go.")
    base_prompts: str | None = Field(None, description="Prompt directory the root version starts from (default: shipped).")
    samples: int = Field(4, ge=1, le=32, description="Answers per solver per round in every evaluation.")
    max_rounds: int = Field(3, ge=1, le=50, description="Round budget per document in every evaluation.")
    minibatch: int = Field(4, ge=1, description="Training documents the parent runs on in one iteration.")
    temperature: float = Field(0.1, gt=0, description="Boltzmann temperature T: P(parent) is proportional to exp(score/T).")
    workers: int = Field(1, ge=1, description="Iterations run at once (each picks its parent from the same population).")
    seed: int = Field(0, description="Seeds parent selection and minibatches; part of item ids.")
    concurrency: int = Field(1, ge=1, description="Documents processed at once inside one evaluation.")


class PromptVersion(BaseModel):
    """A directory of prompt files, with its lineage."""

    id: str
    parent: str | None = None
    iteration: int = Field(description="The iteration that created it (0 for the root).")
    path: str = Field(description="The version directory (prompt files, diff.patch, scores.json).")
    files_changed: list[str] = Field(default_factory=list, description="Prompt files that differ from the parent.")
    status: VersionStatus


class Evaluation(BaseModel):
    """One run of the inner graph with one version's prompts over a set of documents."""

    version: str
    iteration: int
    split: Split
    documents: int = Field(description="Documents the run was given.")
    accepted: int = Field(description="Documents that yielded an accepted item within the round budget.")
    mean_gap: float | None = Field(None, description="Mean strong-minus-weak score over accepted items.")
    run_dir: str = Field(description="The evaluation's run directory (items, trajectories, stats).")

    @property
    def pass_rate(self) -> float:
        return self.accepted / self.documents if self.documents else 0.0


class RejectedEdit(BaseModel):
    file: str
    reason: str


class PromptEdit(BaseModel):
    file: str = Field(description="Prompt file name, e.g. challenger_cs-research.md")
    content: str = Field(description="The complete new content of that file (not a diff).")


class PromptRewrite(BaseModel):
    """Rewritten prompt files that address the analysis."""

    summary: str = Field(description="One or two sentences: what you changed and why.")
    edits: list[PromptEdit] = Field(description="Each changed file with its complete new content.")


class IterationRecord(BaseModel):
    """What one iteration did: the line it adds to history.jsonl."""

    iteration: int
    parent: str
    child: str | None = None
    status: IterationStatus
    analysis: str = ""
    summary: str = ""
    files_changed: list[str] = Field(default_factory=list)
    rejected_edits: list[RejectedEdit] = Field(default_factory=list)
    minibatch: Evaluation | None = None
    parent_validation: Evaluation | None = None
    child_validation: Evaluation | None = None
    error: str | None = None
    usage: dict[str, RoleUsage] = Field(default_factory=dict, description="Analyzer and implementer calls.")


class ScoredVersion(BaseModel):
    id: str
    score: float


def pooled_pass_rate(evaluations: list[Evaluation]) -> float | None:
    documents = sum(e.documents for e in evaluations)
    return sum(e.accepted for e in evaluations) / documents if documents else None


class MetaState(BaseModel):
    versions: Annotated[list[PromptVersion], operator.add] = Field(default_factory=list)
    evaluations: Annotated[list[Evaluation], operator.add] = Field(default_factory=list)
    iterations: Annotated[list[IterationRecord], operator.add] = Field(default_factory=list)
    target_iterations: int = Field(0, description="How many iterations this optimization runs in all.")

    def version(self, version_id: str) -> PromptVersion:
        return next(v for v in self.versions if v.id == version_id)

    def population(self) -> list[PromptVersion]:
        return [v for v in self.versions if v.status in ("root", "kept")]

    def score(self, version_id: str, up_to_iteration: int | None = None) -> float | None:
        """Validation pass rate pooled over every validation run of the version (parents are re-run)."""
        runs = [
            e for e in self.evaluations
            if e.version == version_id and e.split == "validation"
            and (up_to_iteration is None or e.iteration <= up_to_iteration)
        ]  # fmt: skip
        return pooled_pass_rate(runs)

    def scored_population(self) -> list[ScoredVersion]:
        return [ScoredVersion(id=v.id, score=self.score(v.id) or 0.0) for v in self.population()]


class IterationState(BaseModel):
    """One iteration's private state (the `iteration` subgraph); its three record lists flow back to MetaState."""

    iteration: int
    population: list[ScoredVersion] = Field(description="The population as the iteration started.")
    parent: str | None = None
    minibatch: Evaluation | None = None
    analysis: str = ""
    rewrite: PromptRewrite | None = None
    child: PromptVersion | None = Field(None, description="The candidate version, before the keep decision.")
    rejected_edits: list[RejectedEdit] = Field(default_factory=list)
    parent_validation: Evaluation | None = None
    child_validation: Evaluation | None = None
    error: str | None = None
    usage: dict[str, RoleUsage] = Field(default_factory=dict)
    versions: Annotated[list[PromptVersion], operator.add] = Field(default_factory=list)
    evaluations: Annotated[list[Evaluation], operator.add] = Field(default_factory=list)
    iterations: Annotated[list[IterationRecord], operator.add] = Field(default_factory=list)

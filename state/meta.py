"""Typed state of the meta-optimizer: the outer graph that rewrites prompt files and re-evaluates them.

The population is append-only: every version, every evaluation and every iteration is a record added by a
reducer, so W iterations running at once never overwrite each other and a checkpoint holds the full lineage.
A version's score is derived from its validation evaluations, never stored twice.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from autodata.state.schemas import RoleUsage

VersionStatus = Literal["root", "candidate", "kept", "discarded"]
IterationStatus = Literal["kept", "discarded", "screened_out", "invalid", "failed"]
Split = Literal["minibatch", "screen", "validation", "test"]
Selection = Literal["boltzmann", "pareto"]


class MetaContext(BaseModel):
    """Per-run configuration of the meta-optimizer (LangGraph `context_schema`)."""

    task: str = Field("cs-research", description="Task name: cs-research, legal or science.")
    train: str = Field("", description="Training documents (folder or file); minibatches are drawn from them.")
    val: str = Field("", description="Validation documents (folder or file); every version is scored on all of them.")
    run_dir: str = Field("runs/meta", description="Where versions, evaluations, history and checkpoints go.")
    base_prompts: str | None = Field(None, description="Prompt directory the root version starts from (default: shipped).")
    samples: int | None = Field(None, ge=1, le=32, description="Answers per solver per round in every evaluation "
                                "(unset: the task's own weak and strong counts, as `generate` uses).")
    # The method's items take 6.59 rounds on average (METHOD.md section 2): a budget of a handful cuts off most
    # of the yield, so a pass rate measured with one would reward prompts that succeed early, not prompts that
    # yield items. 10 covers the mean with room for the tail; a failing document costs every round.
    max_rounds: int = Field(10, ge=1, le=50, description="Round budget per document in every evaluation.")
    repeats: int = Field(2, ge=1, le=10, description="Validation runs of parent and child per iteration (and of "
                         "the root), on the same documents, run seed `seed + r` for repeat r; the child is kept "
                         "only when its mean pass rate beats the parent's by more than the spread between repeats.")
    minibatch: int = Field(4, ge=1, description="Training documents the parent runs on in one iteration.")
    temperature: float = Field(0.1, gt=0, description="Boltzmann temperature T: P(parent) is proportional to exp(score/T).")
    workers: int = Field(1, ge=1, description="Iterations run at once (each picks its parent from the same population).")
    seed: int = Field(0, description="Seeds parent selection and minibatches; part of item ids.")
    concurrency: int = Field(1, ge=1, description="Documents processed at once inside one evaluation.")
    sources: str = Field("", description="One corpus split by doc id and seed into train / validation / test "
                         "(instead of train and val).")
    train_size: int | float = Field(50, gt=0, description="--sources: training documents (a count, or a fraction < 1).")
    val_size: int | float = Field(25, gt=0, description="--sources: validation documents (a count, or a fraction < 1); "
                            "the rest is the test split.")
    test: str = Field("", description="Test documents with --train/--val (optional); scored only at the end.")
    selection: Selection = Field("boltzmann", description="Parent selection: boltzmann over the pooled validation "
                                 "score, or pareto over per-document wins.")
    open_qv: bool = Field(False, description="Let the optimizer edit the quality-verifier prompts (listed in the "
                          "report when kept).")
    screen: bool = Field(True, description="Try a child on the parent's failed minibatch documents first; only a "
                         "child that beats the parent there is evaluated on validation.")
    policy_preset: str | None = Field("meta", description="Acceptance preset for every evaluation: the method's "
                                      "meta-optimization thresholds (meta) unless the run names another; None: the "
                                      "task's own.")
    max_model_calls: int | None = Field(None, ge=1, description="Stop once this many model calls were spent.")
    max_tokens: int | None = Field(None, ge=1, description="Stop once this many tokens were spent.")
    max_seconds: float | None = Field(None, gt=0, description="Stop once iterations took this much wall time.")
    digest_tokens: int = Field(12_000, ge=500, description="Token budget of the analyzer's trajectory digest.")
    memory_chars: int = Field(4_000, ge=200, description="Length cap of the memory the analyzer and implementer read.")
    copy_span: int = Field(200, ge=20, description="Reject prompt edits copying this many characters of a "
                           "validation or test document.")


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
    repeat: int = Field(0, description="Which validation repeat this is (0 for other splits).")
    seed: int | None = Field(None, description="The run seed the evaluation ran with (the run's seed + repeat).")
    doc_ids: list[str] = Field(default_factory=list, description="The documents, in order.")
    accepted_docs: list[str] = Field(default_factory=list, description="The documents that yielded an item.")
    usage: dict[str, RoleUsage] = Field(default_factory=dict, description="Model calls and tokens per inner role.")

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


class QvChange(BaseModel):
    """A kept change to a quality-verifier prompt (only with --open-qv): the rules it removed or reworded."""

    file: str
    removed: list[str] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)


class KeepDecision(BaseModel):
    """Why a child was kept or discarded: both versions' validation pass rates over the repeats, the mean
    improvement and the spread it had to beat (the largest range of one version's pass rates across repeats)."""

    repeats: int
    seeds: list[int] = Field(default_factory=list, description="The run seed of each repeat.")
    parent_rates: list[float] = Field(default_factory=list)
    child_rates: list[float] = Field(default_factory=list)
    parent_mean: float
    child_mean: float
    improvement: float = Field(description="child_mean - parent_mean.")
    spread: float = Field(description="max over parent and child of (highest - lowest pass rate across repeats).")
    kept: bool = Field(description="improvement > spread (with one repeat: strictly better).")


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
    screen: Evaluation | None = Field(None, description="The child on the parent's failed minibatch documents.")
    parent_validations: list[Evaluation] = Field(default_factory=list, description="The parent's validation "
                                                  "runs in this iteration, one per repeat.")
    child_validations: list[Evaluation] = Field(default_factory=list, description="The child's, same documents "
                                                 "and seeds.")
    decision: KeepDecision | None = Field(None, description="The keep decision, when parent and child were run.")
    error: str | None = None
    usage: dict[str, RoleUsage] = Field(default_factory=dict, description="Analyzer and implementer calls.")
    packing: dict[str, Any] = Field(default_factory=dict, description="How the analyzer's digest was packed.")
    qv_changes: list[QvChange] = Field(default_factory=list)
    seconds: float = Field(0.0, description="Wall time from the iteration's start to its record.")

    def evaluations(self) -> list[Evaluation]:
        found = (self.minibatch, self.screen)
        return [e for e in found if e is not None] + self.parent_validations + self.child_validations

    @property
    def metric_calls(self) -> int:
        """Document evaluations this iteration spent (minibatch, screen, validation of parent and child)."""
        return sum(e.documents for e in self.evaluations())


class ScoredVersion(BaseModel):
    id: str
    score: float
    per_document: dict[str, float] = Field(default_factory=dict, description="Doc id -> share of validation runs "
                                           "that yielded an item (for Pareto selection).")


def pooled_pass_rate(evaluations: list[Evaluation]) -> float | None:
    documents = sum(e.documents for e in evaluations)
    return sum(e.accepted for e in evaluations) / documents if documents else None


class MetaState(BaseModel):
    versions: Annotated[list[PromptVersion], operator.add] = Field(default_factory=list)
    evaluations: Annotated[list[Evaluation], operator.add] = Field(default_factory=list)
    iterations: Annotated[list[IterationRecord], operator.add] = Field(default_factory=list)
    target_iterations: int = Field(0, description="How many iterations this optimization runs in all.")
    seed_seconds: float = Field(0.0, description="Wall time of the root's evaluation.")
    stop_reason: str | None = Field(None, description="The budget that ended the run, when one did.")

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

    def per_document(self, version_id: str) -> dict[str, float]:
        runs = [e for e in self.evaluations if e.version == version_id and e.split == "validation"]
        counts: dict[str, list[int]] = {}
        for evaluation in runs:
            accepted = set(evaluation.accepted_docs)
            for doc_id in evaluation.doc_ids:
                counts.setdefault(doc_id, []).append(doc_id in accepted)
        return {doc_id: sum(hits) / len(hits) for doc_id, hits in counts.items()}

    def scored_population(self) -> list[ScoredVersion]:
        return [
            ScoredVersion(id=v.id, score=self.score(v.id) or 0.0, per_document=self.per_document(v.id))
            for v in self.population()
        ]

    def best_version(self) -> str | None:
        """The population's best by pooled validation score (the earlier version on a tie)."""
        scored = [(self.score(v.id), v.iteration, v.id) for v in self.population()]
        scored = [(score, iteration, vid) for score, iteration, vid in scored if score is not None]
        return max(scored, key=lambda t: (t[0], -t[1]))[2] if scored else None

    def test_evaluations(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.split == "test"]


class IterationState(BaseModel):
    """One iteration's private state (the `iteration` subgraph); its three record lists flow back to MetaState."""

    iteration: int
    population: list[ScoredVersion] = Field(description="The population as the iteration started.")
    parent: str | None = None
    memory: str = Field("", description="What earlier iterations tried, rendered for the analyzer and implementer.")
    started_at: float | None = Field(None, description="Wall clock (epoch seconds) when the iteration started.")
    minibatch: Evaluation | None = None
    screen: Evaluation | None = None
    packing: dict[str, Any] = Field(default_factory=dict)
    analysis: str = ""
    rewrite: PromptRewrite | None = None
    child: PromptVersion | None = Field(None, description="The candidate version, before the keep decision.")
    rejected_edits: list[RejectedEdit] = Field(default_factory=list)
    parent_validations: list[Evaluation] = Field(default_factory=list)
    child_validations: list[Evaluation] = Field(default_factory=list)
    error: str | None = None
    usage: dict[str, RoleUsage] = Field(default_factory=dict)
    versions: Annotated[list[PromptVersion], operator.add] = Field(default_factory=list)
    evaluations: Annotated[list[Evaluation], operator.add] = Field(default_factory=list)
    iterations: Annotated[list[IterationRecord], operator.add] = Field(default_factory=list)

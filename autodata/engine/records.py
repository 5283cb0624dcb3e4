"""What a batch run records per document: its id, its item and trajectory rows, and the counts they add up to.

Pure data: the batch engine (autodata/engine/batch.py) writes these rows; each graph's `BatchSpec` (in the task
registry, autodata/tasks/) says which item row and trajectory extras a document yields, built on the common
columns here.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from autodata.state.context import SolverSamples
from autodata.state.schemas import ROLES, RoleUsage, RoundOutcome, SourceDocument
from autodata.state.self_instruct import merge_usage


def item_id(task: str, doc: SourceDocument, seed: int) -> str:
    """Deterministic: the same document, span, task and seed always give the same id."""
    key = f"{task}|{doc.doc_id}|{doc.content_hash}|{doc.span[0]}-{doc.span[1]}|{seed}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def round_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the stats need of one round record: its outcome, the rule that rejected it, and the end-of-loop
    filter's verdict (None where the filter did not run). A summary summarises to itself."""
    if "end_filter" in record:
        return record
    verdicts = [q["passed"] for q in record.get("quality") or [] if q.get("stage") == "end_filter"]
    return {"outcome": record["outcome"], "rule": record.get("rule"), "end_filter": verdicts[-1] if verdicts else None}


@dataclass
class RunStats:
    task: str
    documents: int = 0
    accepted: int = 0
    exhausted: int = 0
    failed: int = 0
    bad_input: int = 0
    rounds: int = 0
    rounds_per_accepted: list[int] = field(default_factory=list)
    rejections: Counter = field(default_factory=Counter)
    usage: dict[str, RoleUsage] = field(default_factory=dict)
    near_duplicates: int = 0
    skipped: int = 0  # documents a task's graph judged unsuitable (status "skipped")
    filtered: int = 0  # documents whose accepted item the end-of-loop filter removed (status "filtered")
    resumed: int = 0
    awaiting_review: int = 0  # documents paused for a person's decision (generate --review): not finished
    wall_seconds: float = 0.0
    rejection_rules: Counter = field(default_factory=Counter)  # "too_easy:weak_zero": rounds
    final_filter: Counter = field(default_factory=Counter)  # the end-of-loop filter's passed / rejected items
    solver_asymmetry: dict[str, Any] = field(default_factory=dict)  # Settings.solver_asymmetry()
    cost: dict[str, Any] = field(default_factory=dict)  # autodata.engine.costs.RunCost.as_dict(), set when written
    budget_stop: str | None = None  # why no more documents were started (generate --max-cost / --max-tokens)
    endpoints: dict[str, Any] = field(default_factory=dict)  # per endpoint: request limit now and over time

    def absorb(self, trajectory: dict[str, Any]) -> None:
        """Count one finished document from its trajectory row (this run's, or an earlier run's on resume)."""
        self.documents += 1
        rounds = trajectory.get("rounds", [])
        self.rounds += len(rounds)
        for record in map(round_summary, rounds):
            if record["outcome"] != RoundOutcome.ACCEPTED.value:
                self.rejections[record["outcome"]] += 1
                if record["rule"]:
                    self.rejection_rules[f"{record['outcome']}:{record['rule']}"] += 1
            if record["end_filter"] is not None:
                self.final_filter["passed" if record["end_filter"] else "rejected"] += 1
        status = trajectory.get("status")
        if status == "accepted":
            self.accepted += 1
            self.rounds_per_accepted.append(len(rounds))
        elif status == "duplicate":
            self.near_duplicates += 1
        elif status == "skipped":
            self.skipped += 1
        elif status == "filtered":
            self.filtered += 1
        else:
            self.exhausted += 1
        self.usage = merge_usage(self.usage, trajectory.get("usage", {}))

    def end_filter_attrition(self) -> dict[str, int]:
        """Items the loop accepted, and how many of them the end-of-loop filter kept and removed."""
        return {"accepted_in_loop": self.accepted + self.filtered, "kept_after_filter": self.accepted,
                "removed": self.filtered}  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "documents": self.documents,
            "accepted": self.accepted,
            "exhausted": self.exhausted,
            "failed": self.failed,
            "bad_input": self.bad_input,
            "rounds": self.rounds,
            "rounds_per_accepted": self.rounds_per_accepted,
            "rejection_reasons": dict(self.rejections),
            "rejection_rules": dict(self.rejection_rules),
            "final_filter": {"passed": self.final_filter["passed"], "rejected": self.final_filter["rejected"]},
            "end_filter": self.end_filter_attrition(),
            "solver_asymmetry": self.solver_asymmetry,
            "near_duplicates": self.near_duplicates,
            "skipped": self.skipped,
            "resumed": self.resumed,
            "awaiting_review": self.awaiting_review,
            "usage": {role: self.usage.get(role, RoleUsage()).model_dump() for role in ROLES},
            "cost": self.cost,
            "budget_stop": self.budget_stop,
            "wall_seconds": round(self.wall_seconds, 2),
            "endpoints": self.endpoints,
        }


@dataclass
class BaselineStats(RunStats):
    method: str = "self-instruct"
    meets_policy: int = 0
    dropped_inconsistent: int = 0
    no_item: int = 0

    def absorb(self, trajectory: dict[str, Any]) -> None:
        """A kept item counts as accepted (it is in the dataset); the policy verdict is counted apart."""
        status = trajectory.get("status")
        super().absorb({**trajectory, "status": "accepted" if status == "kept" else status})
        self.meets_policy += int(status == "kept" and bool(trajectory.get("meets_policy")))
        self.dropped_inconsistent += int(status == "dropped")
        self.no_item += int(status == "no_item")

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "method": self.method,
            "kept": self.accepted,
            "meets_policy": self.meets_policy,
            "meets_policy_fraction": round(self.meets_policy / self.accepted, 4) if self.accepted else None,
            "dropped_inconsistent": self.dropped_inconsistent,
            "no_item": self.no_item,
        }


@dataclass(frozen=True)
class RunFacts:
    """What every row of one run shares: its context, models, prompt fingerprint and seed."""

    ctx: SolverSamples
    models: dict[str, str]
    prompts_hash: str
    seed: int


def provenance_columns(doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    """The columns every item row carries, whichever graph made it: its id, task and family, and its source."""
    return {
        "id": item_id(run.ctx.task, doc, run.seed),
        "task": run.ctx.task,
        "family": run.ctx.task_family.value,
        "source_doc_id": doc.doc_id,
        "source_path": doc.path,
        "source_hash": doc.content_hash,
        "source_span": list(doc.span),
        "models": run.models,
        "prompts_hash": run.prompts_hash,
    }


def review_columns(state: Any) -> dict[str, Any]:
    """The `reviews` column of a kept item: a person's decisions on it (`generate --review`), absent otherwise."""
    reviews = getattr(state, "reviews", None)
    return {"reviews": [review.model_dump() for review in reviews]} if reviews else {}


def trajectory_row(
    row_id: str, task: str, state: Any, doc: SourceDocument, status: str, duplicate_of: str | None,
    seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """trajectories.jsonl row every graph writes: outcome, usage and each round's record."""
    return {
        "id": row_id,
        "task": task,
        "doc_id": doc.doc_id,
        "source_path": doc.path,
        "source_hash": doc.content_hash,
        "status": status,
        "duplicate_of": duplicate_of,
        "seconds": round(seconds, 2),
        "usage": {role: usage.model_dump() for role, usage in state.usage.items()},
        "rounds": [record.model_dump(mode="json") for record in state.rounds],
    }

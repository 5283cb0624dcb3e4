"""Runs a baseline graph (CoT-Self-Instruct or Self-Instruct) over documents into a run directory.

The run directory has the same format as `autodata generate` writes, so the report treats every run alike:
items.jsonl holds every kept item (method = the baseline's name), trajectories.jsonl one single-round
trajectory per document, stats.json the `RunStats` keys plus the baseline's own counts. For baselines
`accepted` counts kept items (the baseline's dataset); `meets_policy` counts those that also meet the
acceptance policy, which is what the report compares with the agentic loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from autodata.models import ModelProvider
from autodata.prompts import PromptLibrary
from autodata.rundir import RunDirectory
from autodata.runner import GenerateOptions, Generator, RunStats, _item_row, item_id
from autodata.tasks import task_spec
from graphs.baselines import RECURSION_LIMIT, compile_baseline
from state.baseline_state import BaselineContext, BaselineState, Method
from state.schemas import RoundOutcome, SourceDocument


@dataclass
class BaselineOptions(GenerateOptions):
    method: Method = "self-instruct"
    consistency_samples: int = 4

    def context(self) -> BaselineContext:
        base = super().context()
        return BaselineContext(**base.model_dump(), consistency_samples=self.consistency_samples)


@dataclass
class BaselineStats(RunStats):
    method: str = "self-instruct"
    kept: int = 0
    meets_policy: int = 0
    dropped_inconsistent: int = 0
    no_item: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "method": self.method,
            "kept": self.kept,
            "meets_policy": self.meets_policy,
            "meets_policy_fraction": round(self.meets_policy / self.kept, 4) if self.kept else None,
            "dropped_inconsistent": self.dropped_inconsistent,
            "no_item": self.no_item,
        }

    def count(self, state: BaselineState) -> None:
        self.documents += 1
        self.rounds += len(state.rounds)
        self.add_usage(state.usage)
        for record in state.rounds:
            if record.outcome is not RoundOutcome.ACCEPTED:
                self.rejections[record.outcome.value] += 1
        if state.status == "kept":
            self.kept += 1
            self.accepted += 1
            self.rounds_per_accepted.append(len(state.rounds))
            self.meets_policy += int(state.meets_policy)
        else:
            self.exhausted += 1
            self.dropped_inconsistent += int(state.status == "dropped")
            self.no_item += int(state.status == "no_item")


def baseline_prompt_names(family: str) -> list[str]:
    names = [f"baseline_{family}", f"quality_verifier_{family}", f"solver_{family}"]
    return [*names, "judge_rubric"] if family == "rubric" else names


class BaselineRunner(Generator):
    """One `autodata baseline` job: the Generator's batch loop with a baseline graph per document."""

    def __init__(
        self, options: BaselineOptions, provider: ModelProvider, run_dir: RunDirectory, on_document_done=None
    ) -> None:
        super().__init__(options, provider, run_dir, on_document_done=on_document_done)
        self.options: BaselineOptions = options
        self.stats = BaselineStats(task=options.task, method=options.method)
        self.graph = compile_baseline(options.method)
        family = task_spec(options.task).family.value
        self.prompts_hash = PromptLibrary(options.prompts_dir).fingerprint(baseline_prompt_names(family))

    def config_record(self) -> dict[str, Any]:
        return {**super().config_record(), "method": self.options.method}

    async def run_document(self, doc: SourceDocument) -> str:
        started = time.monotonic()
        config = {
            "recursion_limit": RECURSION_LIMIT,
            "run_name": f"{self.options.method}:{doc.doc_id}",
            "metadata": {"task": self.ctx.task, "document_id": doc.doc_id, "run_id": self.ctx.run_id,
                         "method": self.options.method},
        }  # fmt: skip
        try:
            raw = await self.invoke(doc, self.ctx, config)
        except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the batch
            return self.record_failure(doc, exc)
        state = BaselineState.model_validate(raw)
        self.stats.count(state)
        if state.status == "kept":
            self.run_dir.append_item(self.item_row(state, doc))
        self.run_dir.append_trajectory(self.trajectory_row(state, doc, time.monotonic() - started))
        outcome = "accepted" if state.meets_policy else state.status
        self.on_document_done(doc.doc_id, outcome)
        return outcome

    def record_failure(self, doc: SourceDocument, exc: Exception) -> str:
        self.stats.failed += 1
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        self.run_dir.append_error({"doc_id": doc.doc_id, "path": doc.path, "kind": "failed", "reason": reason})
        self.on_document_done(doc.doc_id, "failed")
        return "failed"

    def item_row(self, state: BaselineState, doc: SourceDocument) -> dict[str, Any]:
        row = _item_row(state, doc, self.ctx, self.models, self.prompts_hash, self.options.seed)
        return {**row, "method": self.options.method}

    def trajectory_row(self, state: BaselineState, doc: SourceDocument, seconds: float) -> dict[str, Any]:
        return {
            "id": item_id(self.ctx.task, doc, self.options.seed),
            "task": self.ctx.task,
            "method": self.options.method,
            "doc_id": doc.doc_id,
            "source_path": doc.path,
            "source_hash": doc.content_hash,
            "status": state.status,
            "meets_policy": state.meets_policy,
            "seconds": round(seconds, 2),
            "usage": {role: usage.model_dump() for role, usage in state.usage.items()},
            "reasoning": state.reasoning,
            "consistency": state.consistency.model_dump() if state.consistency else None,
            "consistency_attempts": [a.model_dump(mode="json") for a in state.consistency_attempts],
            "rounds": [record.model_dump(mode="json") for record in state.rounds],
        }

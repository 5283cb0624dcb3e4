"""Runs a baseline graph (CoT-Self-Instruct or Self-Instruct) over documents into a run directory.

The run directory has the same format as `autodata generate` writes, so the report treats every run alike:
items.jsonl holds every kept item (method = the baseline's name), trajectories.jsonl one single-round
trajectory per document, stats.json the `RunStats` keys plus the baseline's own counts. For baselines
`accepted` counts kept items (the baseline's dataset); `meets_policy` counts those that also meet the
acceptance policy, which is what the report compares with the agentic loop. Runs resume like `generate`
(per-document checkpoints, rows written once) and drop near-duplicate questions the same way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from autodata.graphs.baselines import RECURSION_LIMIT, compile_baseline
from autodata.models import ModelProvider
from autodata.prompt_library import PromptLibrary
from autodata.rundir import RunDirectory
from autodata.runner import GenerateOptions, Generator, RunStats
from autodata.state.baseline_state import (
    BaselineContext,
    BaselineState,
    ConsistencyCheck,
    Method,
)
from autodata.state.schemas import SourceDocument
from autodata.tasks import task_spec


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


def baseline_prompt_names(family: str) -> list[str]:
    names = [f"baseline_{family}", f"quality_verifier_{family}", f"solver_{family}"]
    return [*names, "judge_rubric"] if family == "rubric" else names


class BaselineRunner(Generator):
    """One `autodata baseline` job: the Generator's resumable batch loop with a baseline graph per document."""

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

    def graph_config(self, doc: SourceDocument) -> dict[str, Any]:
        config = super().graph_config(doc)
        return {
            **config,
            "recursion_limit": RECURSION_LIMIT,
            "run_name": f"{self.options.method}:{doc.doc_id}",
            "metadata": {**config["metadata"], "method": self.options.method},
        }

    @contextlib.asynccontextmanager
    async def _checkpointer(self):
        async with super()._checkpointer() as saver:
            if saver is not None:  # let checkpoints revive the baseline's own state records too
                saver.serde = saver.serde.with_msgpack_allowlist([BaselineState, ConsistencyCheck])
            yield saver

    state_type = BaselineState
    kept_status = "kept"
    summary_keys = (*Generator.summary_keys, "meets_policy")

    def item_row(self, state: BaselineState, doc: SourceDocument) -> dict[str, Any]:
        return {**super().item_row(state, doc), "method": self.options.method}

    def progress_outcome(self, state: BaselineState, status: str) -> str:
        return "accepted" if status == "kept" and state.meets_policy else status

    def trajectory_row(
        self, row_id: str, state: BaselineState, doc: SourceDocument, status: str, duplicate_of: str | None,
        seconds: float,
    ) -> dict[str, Any]:  # fmt: skip
        return {
            **super().trajectory_row(row_id, state, doc, status, duplicate_of, seconds),
            "method": self.options.method,
            "meets_policy": status == "kept" and state.meets_policy,
            "reasoning": state.reasoning,
            "consistency": state.consistency.model_dump() if state.consistency else None,
            "consistency_attempts": [a.model_dump(mode="json") for a in state.consistency_attempts],
        }

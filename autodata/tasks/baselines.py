"""The baselines (CoT-Self-Instruct, Self-Instruct) as the batch engine runs them for any registered task.

The baseline graphs (graphs/baselines.py) are task-independent; what a task changes is how its baseline set is
filtered and scored (`TaskSpec.baseline`, the arrangement) and its defaults (family, sample counts, preset).
Here: each method's `BatchSpec` (rows carry the method's name) and the runner that picks the task's and, for
CoT-Self-Instruct on rubric tasks, applies the RIP filter once the batch is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from autodata.engine.baseline_runner import BaselineOptions
from autodata.engine.batch import BatchRunner, BatchSpec
from autodata.engine.corpus import DocumentError
from autodata.engine.records import BaselineStats, RunFacts, RunStats
from autodata.engine.rip_filter import RipResult, apply_rip_filter
from autodata.engine.rundir import RunDirectory
from autodata.graphs.baselines import RECURSION_LIMIT, build_baseline, graph_name
from autodata.llm.models import ModelProvider
from autodata.state.baselines import BaselineArrangement, BaselineContext, BaselineState, Method
from autodata.state.schemas import SourceDocument, TaskFamily
from autodata.tasks import task_spec
from autodata.tasks.cs_research import accepted_item_row

__all__ = ["BaselineRunner", "baseline_batch", "baseline_prompt_names"]


def baseline_item_row(method: str, state: BaselineState, doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    return {**accepted_item_row(state, doc, run), "method": method}


def baseline_trajectory_extras(method: str, state: BaselineState, status: str) -> dict[str, Any]:
    """What a baseline's trajectory row adds: its method, the policy verdict, and the consistency check."""
    return {
        "method": method,
        "meets_policy": status == "kept" and state.meets_policy,
        "reasoning": state.reasoning,
        "consistency": state.consistency.model_dump() if state.consistency else None,
        "consistency_attempts": [a.model_dump(mode="json") for a in state.consistency_attempts],
    }


def baseline_progress(state: BaselineState, status: str) -> str:
    """A kept item shows as accepted on the progress bar only when it meets the acceptance policy."""
    return "accepted" if status == "kept" and state.meets_policy else status


def baseline_prompt_names(family: str, arrangement: BaselineArrangement) -> list[str]:
    """The prompt files a baseline run of `family` under `arrangement` reads (its fingerprint covers them)."""
    names = [f"baseline_{family}", arrangement.solver_prompt or f"solver_{family}"]
    if arrangement.quality_verifier:
        names.append(f"quality_verifier_{family}")
    if family == TaskFamily.RUBRIC.value:
        names += ["judge_rubric", *(["end_filter_rubric"] if arrangement.end_filter else [])]
    return names


def baseline_batch(method: Method, arrangement: BaselineArrangement) -> BatchSpec:
    """How `autodata baseline` runs one method's graph over documents (rows carry the method's name)."""
    return BatchSpec(
        name=graph_name(method), run_label=method, build=partial(build_baseline, method), state_type=BaselineState,
        recursion_limit=lambda ctx: RECURSION_LIMIT,
        prompt_names=lambda task, family: baseline_prompt_names(family, arrangement),
        item_row=partial(baseline_item_row, method), kept_status="kept",
        trajectory_extras=partial(baseline_trajectory_extras, method), progress_outcome=baseline_progress,
        summary_keys=("status", "usage", "meets_policy"), new_stats=partial(BaselineStats, method=method),
        record_extras={"method": method}, context_type=BaselineContext,
    )  # fmt: skip


class BaselineRunner(BatchRunner):
    """One `autodata baseline` job: the batch engine running the chosen baseline graph per document, with the
    task's defaults (family, sample counts, preset) under what the options set; for CoT-Self-Instruct on a rubric
    task, then the RIP filter over the whole run directory (it ranks every item, so it runs after the batch)."""

    rip: RipResult | None = None  # what the RIP filter did in this run, when it ran

    def rip_applies(self) -> bool:
        options = self.options
        family = task_spec(options.task).family
        return options.method == "cot-self-instruct" and family is TaskFamily.RUBRIC and options.rip_fraction > 0

    async def run(self, documents: Iterable[SourceDocument | DocumentError], limit: int | None = None) -> RunStats:
        stats = await super().run(documents, limit)
        if self.rip_applies():
            with self.run_dir.lock():
                self.rip = apply_rip_filter(self.run_dir, self.options.rip_fraction)
                self.run_dir.save_dataset(self.spec.dataset_columns)
        return stats

    def __init__(
        self,
        options: BaselineOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
    ) -> None:
        spec = baseline_batch(options.method, options.arrangement)
        super().__init__(spec, task_spec(options.task).options(options), provider, run_dir, on_document_done)

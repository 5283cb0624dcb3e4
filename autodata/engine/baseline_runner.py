"""Runs a baseline graph (CoT-Self-Instruct or Self-Instruct) over documents into a run directory.

The run directory has the same format as `autodata generate` writes, so the report treats every run alike:
items.jsonl holds every kept item (method = the baseline's name), trajectories.jsonl one single-round
trajectory per document, stats.json the `RunStats` keys plus the baseline's own counts. For baselines
`accepted` counts kept items (the baseline's dataset); `meets_policy` counts those that also meet the
acceptance policy, which is what the report compares with the agentic loop. Runs resume like `generate`
(the same batch engine, autodata/batch.py: per-document checkpoints, rows written once) and drop
near-duplicate questions the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autodata.engine.batch import BatchRunner, GenerateOptions
from autodata.engine.records import BaselineStats
from autodata.graphs.baselines import baseline_batch, baseline_prompt_names
from autodata.llm.models import ModelProvider
from autodata.engine.rundir import RunDirectory
from autodata.state.baselines import BaselineContext, Method

__all__ = ["BaselineOptions", "BaselineRunner", "BaselineStats", "baseline_prompt_names"]


@dataclass
class BaselineOptions(GenerateOptions):
    method: Method = "self-instruct"
    consistency_samples: int = 4

    def context(self) -> BaselineContext:
        base = super().context()
        return BaselineContext(**base.model_dump(), consistency_samples=self.consistency_samples)


class BaselineRunner(BatchRunner):
    """One `autodata baseline` job: the batch engine running the chosen baseline graph per document."""

    def __init__(
        self,
        options: BaselineOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(baseline_batch(options.method), options, provider, run_dir, on_document_done)

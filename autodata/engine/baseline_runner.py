"""Runs a baseline graph (CoT-Self-Instruct or Self-Instruct) over documents into a run directory.

The run directory has the same format as `autodata generate` writes, so the report treats every run alike:
items.jsonl holds every kept item (method = the baseline's name), trajectories.jsonl one single-round
trajectory per document, stats.json the `RunStats` keys plus the baseline's own counts. For baselines
`accepted` counts kept items (the baseline's dataset); `meets_policy` counts those that also meet the
acceptance policy, which is what the report compares with the agentic loop. Which filters an item passes,
and which solver prompt scores it, is the task's arrangement (`BaselineOptions.arrangement`, from the task
registry). Runs resume like `generate` (the same batch engine, autodata/engine/batch.py: per-document
checkpoints, rows written once) and drop near-duplicate questions the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autodata.engine.batch import GenerateOptions
from autodata.engine.records import BaselineStats
from autodata.state.baselines import BaselineArrangement, Method

__all__ = ["BaselineOptions", "BaselineStats"]


@dataclass
class BaselineOptions(GenerateOptions):
    method: Method = "self-instruct"
    consistency_samples: int = 4
    rip_fraction: float = 0.25  # CoT-Self-Instruct on rubric tasks: the RIP filter's share (0: off)
    # The task's arrangement (the registry's `baseline`, its solver prompt filled in); unset: the CS loop's.
    arrangement: BaselineArrangement = field(default_factory=BaselineArrangement)

    def context_values(self) -> dict[str, Any]:
        values = super().context_values()
        return {**values, "consistency_samples": self.consistency_samples, "arrangement": self.arrangement,
                "rip_fraction": self.rip_fraction}  # fmt: skip

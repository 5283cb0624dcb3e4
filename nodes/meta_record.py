"""Record progress after the seed and after every batch of iterations, then plan the next batch.

The files it writes (history.jsonl, versions/*/scores.json, the plot) are rewritten whole from the
checkpointed state, so a resumed run never duplicates a line.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END
from langgraph.types import Send

from autodata.nodes.meta_common import meta_context
from autodata.optimize import write_outputs
from autodata.state.meta_state import IterationState, MetaState


async def record_progress(state: MetaState, runtime: Any) -> dict[str, Any]:
    write_outputs(meta_context(runtime).run_dir, state)
    return {}


def next_iterations(state: MetaState, runtime: Any) -> list[Send] | str:
    """Up to `workers` iterations at once, all choosing parents from the population as it stands now."""
    done = len(state.iterations)
    batch = min(meta_context(runtime).workers, state.target_iterations - done)
    if batch <= 0:
        return END
    population = state.scored_population()
    return [Send("iteration", IterationState(iteration=done + k + 1, population=population)) for k in range(batch)]

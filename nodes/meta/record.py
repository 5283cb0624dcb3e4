"""Record progress after the seed and after every batch of iterations, then plan the next batch (or, once
a budget is used up, the final test).

The files it writes (history.jsonl, versions/*/scores.json, the plot) are rewritten whole from the
checkpointed state, so a resumed run never duplicates a line. The writer is injected by the graph builder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from langgraph.types import Send

from autodata.meta.budget import stop_reason
from autodata.meta.memory import memory_entries, render_memory
from autodata.nodes.meta.common import meta_context
from autodata.state.meta import IterationState, MetaState

OutputWriter = Callable[[str | Path, MetaState], None]


def make_record_progress(write_outputs: OutputWriter) -> Callable[[MetaState, Any], Awaitable[dict[str, Any]]]:
    """The record node, writing the run's files with `write_outputs`."""

    async def record_progress(state: MetaState, runtime: Any) -> dict[str, Any]:
        write_outputs(meta_context(runtime).run_dir, state)
        return {}

    return record_progress


def next_iterations(state: MetaState, runtime: Any) -> list[Send] | str:
    """Up to `workers` iterations at once, all choosing parents from the population as it stands now and
    reading the memory of every iteration recorded so far; once a budget is used up, the final test."""
    ctx = meta_context(runtime)
    if stop_reason(ctx, state) is not None:
        return "final_test"
    done = len(state.iterations)
    batch = min(ctx.workers, state.target_iterations - done)
    population = state.scored_population()
    memory = render_memory(memory_entries(state.iterations), ctx.memory_chars)
    return [
        Send("iteration", IterationState(iteration=done + k + 1, population=population, memory=memory))
        for k in range(batch)
    ]

"""Evaluate on a minibatch: the parent's prompts on a sample of training documents, for the analyzer to study."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autodata.engine.batch import BatchJob
from autodata.nodes.meta.common import documents, evaluate_version, meta_context
from autodata.nodes.meta.select_parent import iteration_rng
from autodata.state.meta import IterationState


def make_evaluate_minibatch(run_batch: BatchJob) -> Callable[[IterationState, Any], Awaitable[dict[str, Any]]]:
    """The minibatch node, evaluating with `run_batch`."""

    async def evaluate_minibatch(state: IterationState, runtime: Any) -> dict[str, Any]:
        ctx = meta_context(runtime)
        training = documents(ctx, "minibatch")
        rng = iteration_rng(ctx.seed, state.iteration, "minibatch")
        batch = rng.sample(list(training), min(ctx.minibatch, len(training)))
        evaluation = await evaluate_version(run_batch, ctx, state.parent, batch, "minibatch", state.iteration)
        return {"minibatch": evaluation}

    return evaluate_minibatch

"""Evaluate on a minibatch: the parent's prompts on a sample of training documents, for the analyzer to study."""

from __future__ import annotations

from typing import Any

from autodata.nodes.meta.common import MetaServices, documents, evaluate_version, meta_context
from autodata.nodes.meta.select_parent import iteration_rng
from autodata.state.meta import IterationState


async def evaluate_minibatch(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    training = documents(ctx, "minibatch", services)
    rng = iteration_rng(ctx.seed, state.iteration, "minibatch")
    batch = rng.sample(list(training), min(ctx.minibatch, len(training)))
    evaluation = await evaluate_version(services, ctx, state.parent, batch, "minibatch", state.iteration)
    return {"minibatch": evaluation}

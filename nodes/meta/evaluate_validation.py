"""Evaluate on validation: parent and child run on every validation document under the same conditions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from autodata.engine.batch import BatchJob
from autodata.nodes.meta.common import documents, evaluate_version, meta_context
from autodata.state.meta import IterationState


def make_evaluate_validation(run_batch: BatchJob) -> Callable[[IterationState, Any], Awaitable[dict[str, Any]]]:
    """The validation node, evaluating parent and child with `run_batch`."""

    async def evaluate_validation(state: IterationState, runtime: Any) -> dict[str, Any]:
        ctx = meta_context(runtime)
        validation = documents(ctx, "validation")
        parent, child = await asyncio.gather(
            evaluate_version(run_batch, ctx, state.parent, validation, "validation", state.iteration),
            evaluate_version(run_batch, ctx, state.child.id, validation, "validation", state.iteration),
        )
        return {"parent_validation": parent, "child_validation": child}

    return evaluate_validation

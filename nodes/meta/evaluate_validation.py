"""Evaluate on validation: parent and child run on every validation document under the same conditions,
`repeats` times each (the same run seeds for both), so the keep decision can weigh the difference between
them against the spread between repeats."""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.nodes.meta.common import MetaServices, documents, evaluate_repeats, meta_context
from autodata.state.meta import IterationState


async def evaluate_validation(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    validation = documents(ctx, "validation", services)
    parent, child = await asyncio.gather(
        evaluate_repeats(services, ctx, state.parent, validation, state.iteration),
        evaluate_repeats(services, ctx, state.child.id, validation, state.iteration),
    )
    return {"parent_validations": parent, "child_validations": child}

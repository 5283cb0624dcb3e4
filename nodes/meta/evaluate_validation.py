"""Evaluate on validation: parent and child run on every validation document under the same conditions."""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.nodes.meta.common import MetaServices, documents, evaluate_version, meta_context
from autodata.state.meta import IterationState


async def evaluate_validation(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    validation = documents(ctx, "validation", services)
    parent, child = await asyncio.gather(
        evaluate_version(services, ctx, state.parent, validation, "validation", state.iteration),
        evaluate_version(services, ctx, state.child.id, validation, "validation", state.iteration),
    )
    return {"parent_validation": parent, "child_validation": child}

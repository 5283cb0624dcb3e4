"""Screen: the child first runs on the training documents its parent failed in this iteration's minibatch.

Only a child that beats the parent there (the parent accepted none of them, so: at least one accepted item)
is evaluated on validation; the others end the iteration `screened_out` and cost no validation run. When the
parent failed no minibatch document there is nothing to screen on and the child goes straight to validation.
"""

from __future__ import annotations

from typing import Any

from autodata.nodes.meta.common import MetaServices, documents, evaluate_version, meta_context
from autodata.state.meta import IterationState


def failed_documents(state: IterationState) -> set[str]:
    batch = state.minibatch
    return set(batch.doc_ids) - set(batch.accepted_docs) if batch else set()


async def screen_child(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    failed = failed_documents(state)
    docs = [doc for doc in documents(ctx, "screen", services) if doc.doc_id in failed]
    if not ctx.screen or not docs:
        return {}
    evaluation = await evaluate_version(services, ctx, state.child.id, docs, "screen", state.iteration)
    return {"screen": evaluation}


def passed_screen(state: IterationState) -> bool:
    return state.screen is None or state.screen.accepted > 0

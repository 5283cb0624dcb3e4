"""Screen: the child first runs on the training documents its parent failed in this iteration's minibatch.

Only a child that beats the parent there (the parent accepted none of them, so: at least one accepted item)
is evaluated on validation; the others end the iteration `screened_out` and cost no validation run. When the
parent failed no minibatch document there is nothing to screen on and the child goes straight to validation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autodata.engine.batch import BatchJob
from autodata.nodes.meta.common import documents, evaluate_version, meta_context
from autodata.state.meta import IterationState


def failed_documents(state: IterationState) -> set[str]:
    batch = state.minibatch
    return set(batch.doc_ids) - set(batch.accepted_docs) if batch else set()


def make_screen_child(run_batch: BatchJob) -> Callable[[IterationState, Any], Awaitable[dict[str, Any]]]:
    """The screen node, evaluating with `run_batch`."""

    async def screen_child(state: IterationState, runtime: Any) -> dict[str, Any]:
        ctx = meta_context(runtime)
        failed = failed_documents(state)
        docs = [doc for doc in documents(ctx, "screen") if doc.doc_id in failed]
        if not ctx.screen or not docs:
            return {}
        evaluation = await evaluate_version(run_batch, ctx, state.child.id, docs, "screen", state.iteration)
        return {"screen": evaluation}

    return screen_child


def passed_screen(state: IterationState) -> bool:
    return state.screen is None or state.screen.accepted > 0

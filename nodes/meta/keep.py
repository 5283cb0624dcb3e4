"""Keep iff strictly better: the child joins the population only if its validation pass rate beats the
parent's, both measured in this iteration; a tie keeps the parent. A child that failed the minibatch screen
is `screened_out` (no validation run). Writes the iteration's record, with the changes a kept version made
to the quality verifier (only possible with --open-qv) listed for the report."""

from __future__ import annotations

import time
from typing import Any

from autodata.nodes.meta.common import MetaServices, meta_context, version_store
from autodata.prompting.versions import qv_changes
from autodata.state.meta import Evaluation, IterationRecord, IterationState, QvChange


def strictly_better(child: Evaluation, parent: Evaluation) -> bool:
    # Cross-multiplied so equal pass rates on different document counts compare exactly.
    return child.accepted * parent.documents > parent.accepted * child.documents


def iteration_status(state: IterationState) -> str:
    if state.error:
        return "failed"
    if state.child is None:
        return "invalid"
    if state.screen is not None and state.screen.accepted == 0:
        return "screened_out"
    if state.child_validation is None or state.parent_validation is None:
        return "invalid"
    return "kept" if strictly_better(state.child_validation, state.parent_validation) else "discarded"


def kept_qv_changes(state: IterationState, runtime: Any, services: MetaServices) -> list[QvChange]:
    ctx = meta_context(runtime)
    if not ctx.open_qv or state.child is None:
        return []
    store = version_store(ctx, services)
    return qv_changes(store.files(state.parent), store.files(state.child.id))


async def keep_if_better(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    status = iteration_status(state)
    versions = []
    if state.child is not None and status in ("kept", "discarded", "screened_out"):
        versions.append(state.child.model_copy(update={"status": "kept" if status == "kept" else "discarded"}))
    record = IterationRecord(
        iteration=state.iteration,
        parent=state.parent,
        child=versions[0].id if versions else None,
        status=status,
        analysis=state.analysis,
        summary=state.rewrite.summary if state.rewrite else "",
        files_changed=state.child.files_changed if state.child else [],
        rejected_edits=state.rejected_edits,
        minibatch=state.minibatch,
        screen=state.screen,
        parent_validation=state.parent_validation,
        child_validation=state.child_validation,
        error=state.error,
        usage=state.usage,
        packing=state.packing,
        qv_changes=kept_qv_changes(state, runtime, services) if status == "kept" else [],
        seconds=round(time.time() - state.started_at, 3) if state.started_at else 0.0,
    )
    return {"versions": versions, "evaluations": record.evaluations(), "iterations": [record]}

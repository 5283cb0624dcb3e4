"""Keep iff strictly better: the child joins the population only if its validation pass rate beats the
parent's, both measured in this iteration; a tie keeps the parent. Writes the iteration's record."""

from __future__ import annotations

from typing import Any

from autodata.state.meta_state import Evaluation, IterationRecord, IterationState


def strictly_better(child: Evaluation, parent: Evaluation) -> bool:
    # Cross-multiplied so equal pass rates on different document counts compare exactly.
    return child.accepted * parent.documents > parent.accepted * child.documents


def iteration_status(state: IterationState) -> str:
    if state.error:
        return "failed"
    if state.child is None or state.child_validation is None or state.parent_validation is None:
        return "invalid"
    return "kept" if strictly_better(state.child_validation, state.parent_validation) else "discarded"


async def keep_if_better(state: IterationState, runtime: Any) -> dict[str, Any]:
    status = iteration_status(state)
    versions = []
    if state.child is not None and status in ("kept", "discarded"):
        versions.append(state.child.model_copy(update={"status": status}))
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
        parent_validation=state.parent_validation,
        child_validation=state.child_validation,
        error=state.error,
        usage=state.usage,
    )
    evaluations = [e for e in (state.minibatch, state.parent_validation, state.child_validation) if e is not None]
    return {"versions": versions, "evaluations": evaluations, "iterations": [record]}

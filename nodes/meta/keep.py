"""Keep only what beats the noise: parent and child ran `repeats` times on the same validation documents
with the same seeds; the child joins the population only if its mean pass rate beats the parent's by more
than the spread seen between repeats (the largest range of either version's pass rates). With one repeat
that is "strictly better"; a tie always keeps the parent. The decision is recorded with both means, every
repeat's rate and seed, and the spread. A child that failed the minibatch screen is `screened_out` (no
validation run). Writes the iteration's record, with the changes a kept version made to the quality verifier
(only possible with --open-qv) listed for the report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from fractions import Fraction
from statistics import fmean
from typing import Any

from autodata.nodes.meta.common import MetaServices, meta_context, version_store
from autodata.prompting.versions import qv_changes
from autodata.state.meta import Evaluation, IterationRecord, IterationState, KeepDecision, QvChange


def _rates(evaluations: Sequence[Evaluation]) -> list[Fraction]:
    # Exact fractions, so equal pass rates on different document counts compare equal.
    return [Fraction(e.accepted, e.documents) if e.documents else Fraction(0) for e in evaluations]


def _spread(rates: Sequence[Fraction]) -> Fraction:
    return max(rates) - min(rates) if rates else Fraction(0)


def keep_decision(child: Sequence[Evaluation], parent: Sequence[Evaluation]) -> KeepDecision:
    """Keep iff the mean improvement is larger than the spread between repeats."""
    child_rates, parent_rates = _rates(child), _rates(parent)
    improvement = sum(child_rates) / len(child_rates) - sum(parent_rates) / len(parent_rates)
    spread = max(_spread(child_rates), _spread(parent_rates))
    return KeepDecision(
        repeats=len(child_rates), seeds=[e.seed for e in child if e.seed is not None],
        parent_rates=[float(r) for r in parent_rates], child_rates=[float(r) for r in child_rates],
        parent_mean=fmean(parent_rates), child_mean=fmean(child_rates), improvement=float(improvement),
        spread=float(spread), kept=improvement > spread,
    )  # fmt: skip


def decide(state: IterationState) -> KeepDecision | None:
    if state.error or not state.child_validations or not state.parent_validations:
        return None
    return keep_decision(state.child_validations, state.parent_validations)


def iteration_status(state: IterationState, decision: KeepDecision | None) -> str:
    if state.error:
        return "failed"
    if state.child is None:
        return "invalid"
    if state.screen is not None and state.screen.accepted == 0:
        return "screened_out"
    if decision is None:
        return "invalid"
    return "kept" if decision.kept else "discarded"


def kept_qv_changes(state: IterationState, runtime: Any, services: MetaServices) -> list[QvChange]:
    ctx = meta_context(runtime)
    if not ctx.open_qv or state.child is None:
        return []
    store = version_store(ctx, services)
    return qv_changes(store.files(state.parent), store.files(state.child.id))


async def keep_if_better(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    decision = decide(state)
    status = iteration_status(state, decision)
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
        parent_validations=state.parent_validations,
        child_validations=state.child_validations,
        decision=decision,
        error=state.error,
        usage=state.usage,
        packing=state.packing,
        qv_changes=kept_qv_changes(state, runtime, services) if status == "kept" else [],
        seconds=round(time.time() - state.started_at, 3) if state.started_at else 0.0,
    )
    return {"versions": versions, "evaluations": record.evaluations(), "iterations": [record]}

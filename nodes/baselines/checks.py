"""What a task's baseline arrangement decides: which checks an item passes through, in which order, and how
its scoring samples are drawn (solver prompt, per-role counts).

The checks run in a fixed order, each only if the arrangement names it: the quality verifier (a verdict that
counts toward meets_policy), the end-of-loop filter and the question post-filter (each removes a rejected item
from the set). The post-filter is the legal pipeline's layer-1 rule set (METHOD.md section 3.5): in the loop a
flagged question goes back to the writer; a baseline has no writer, so its flagged question is not kept. Its
verdict is recorded at the end-of-loop stage, so stats.json counts it under `final_filter` like the end filter.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.nodes.baselines.consistency import baseline_context
from autodata.nodes.shared.end_filter import STAGE as END_FILTER
from autodata.rules.legal_shape import post_filter_flags
from autodata.state.baselines import BaselineArrangement, BaselineState
from autodata.state.schemas import QualityVerdict, RoundOutcome, SolverRole
from autodata.state.self_instruct import SolveTask

CHECKS: tuple[str, ...] = ("quality_verifier", "end_filter", "post_filter")


def runs_check(arrangement: BaselineArrangement, check: str) -> bool:
    if check == "post_filter":
        return arrangement.question_post_filter is not None
    return bool(getattr(arrangement, check))


def next_check(arrangement: BaselineArrangement, after: str | None = None) -> str | None:
    """The first check after `after` (None: from the start) that the arrangement runs; None when none is left."""
    remaining = CHECKS[CHECKS.index(after) + 1 :] if after else CHECKS
    return next((check for check in remaining if runs_check(arrangement, check)), None)


def scoring_sends(state: BaselineState, runtime: Any, role: SolverRole, node: str | None = None) -> list[Send]:
    """The role's scoring samples in parallel, each answered through the arrangement's solver prompt."""
    ctx = baseline_context(runtime)
    return [
        Send(node or f"{role}_solver", SolveTask(role=role, sample_index=i, round=state.round, item=state.item,
                                                 document=state.document, prompt=ctx.arrangement.solver_prompt))
        for i in range(ctx.samples_for(role))
    ]  # fmt: skip


def post_filter_verdict(question: str, arrangement: BaselineArrangement) -> QualityVerdict:
    rules = arrangement.question_post_filter
    flags = post_filter_flags(question, rules) if rules is not None else []
    rule = f"post_filter_{flags[0].split(':', 1)[0]}" if flags else None
    return QualityVerdict(passed=not flags, reasons=[f"post-filter: {flag}" for flag in flags], stage=END_FILTER,
                          rule=rule)  # fmt: skip


async def post_filter(state: BaselineState, runtime: Any) -> dict[str, Any]:
    verdict = post_filter_verdict(state.item.question, baseline_context(runtime).arrangement)
    update: dict[str, Any] = {"quality": [*state.quality, verdict]}
    if not verdict.passed:
        update.update(outcome=RoundOutcome.FAILED_QUALITY_CHECK, rule=verdict.rule)
    return update

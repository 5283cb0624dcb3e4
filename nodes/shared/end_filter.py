"""End-of-loop filter: a stricter, different check of an item that met the acceptance policy.

Not a repeat of the in-loop quality verifier: its own code checks (a context long enough to stand on its own, a
lower bar for calling the answer leaked, the rubric shape) and its own prompt (`end_filter_rubric`) that looks
for answer leakage, a too-short context and a malformed rubric. It removes, it does not teach: the graph drops
a rejected item (the document ends `filtered`, the round keeps the item and the filter's rule and reasons),
unless the run sets `policy.end_filter_feedback`, which sends it back to the orchestrator like any failed round.
stats.json counts the filter's verdicts (`final_filter`) and the attrition (`end_filter`).
Verifiable items have no end filter (METHOD.md section 4 defines none).
"""

from __future__ import annotations

from typing import Any

from autodata.rules.format_rules import end_filter_violations, rubric_counts
from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import (
    family_of,
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.nodes.shared.quality_verifier import QUALITY_CALL_FAILED, code_rule_verdict
from autodata.state.context import RunContext
from autodata.state.quality_outputs import EndFilterReport
from autodata.state.schemas import CandidateItem, QualityVerdict, RoundOutcome, TaskFamily
from autodata.state.self_instruct import SelfInstructState

STAGE = "end_filter"
_FLAGS = (
    ("answer_leakage", "end_filter_leakage", "end filter: the context and question give the answer away"),
    ("context_too_short", "end_filter_short_context", "end filter: the context is too short to stand on its own"),
    ("rubric_malformed", "end_filter_rubric", "end filter: the rubric is malformed"),
)


def verdict_from_end_report(report: EndFilterReport, item: CandidateItem) -> QualityVerdict:
    flagged = [(rule, reason) for flag, rule, reason in _FLAGS if getattr(report, flag)]
    reasons = [reason for _, reason in flagged]
    if flagged:
        reasons += [f"end filter: {r.strip()}" for r in report.reasons if r.strip()]
    return QualityVerdict(
        passed=not flagged,
        reasons=reasons,
        stage=STAGE,
        rule=flagged[0][0] if flagged else None,
        rubric_counts=rubric_counts(item.rubric),
        feedback="; ".join(r.strip() for r in report.reasons if r.strip()),
    )


async def _model_verdict(
    state: SelfInstructState, ctx: RunContext, provider: ModelProvider
) -> tuple[QualityVerdict, dict[str, Any]]:
    messages = prompt_library(ctx.prompts_dir).messages("end_filter_rubric", document=state.document, item=state.item)
    result = await provider.structured(
        "quality_verifier", EndFilterReport, messages, metadata={**trace_metadata(state, ctx), "stage": STAGE}
    )
    result.raise_if_endpoint_failed()
    update: dict[str, Any] = usage_update("quality_verifier", result.usage)
    if not result.ok:
        update["round_error"] = f"end_filter: {result.error}"
        return QualityVerdict(passed=False, reasons=[QUALITY_CALL_FAILED], stage=STAGE), update
    return verdict_from_end_report(result.value, state.item), update


async def end_filter(state: SelfInstructState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = run_context(runtime)
    if family_of(ctx) is not TaskFamily.RUBRIC:
        return {}
    violations = end_filter_violations(state.item, ctx.policy)
    if violations:
        verdict, update = code_rule_verdict(violations, STAGE, rubric_counts=rubric_counts(state.item.rubric)), {}
    else:
        verdict, update = await _model_verdict(state, ctx, provider)
    update["quality"] = [*state.quality, verdict]
    if not verdict.passed:
        model_error = "round_error" in update
        update["outcome"] = RoundOutcome.MODEL_ERROR if model_error else RoundOutcome.FAILED_QUALITY_CHECK
        update["rule"] = None if model_error else verdict.rule
    return update

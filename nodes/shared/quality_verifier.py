"""Quality verifier (in-loop, every round): the code rules first, then the quality-verifier model.

A broken format, label or rubric-shape rule (autodata.rules.format_rules) fails the item at once, named, with no
model call; the label rules (a listed question type, 2-3 snake_case skill tags) apply where the graph binds
`question_types` (the cs-research challenger writes labels, a baseline generator does not). Otherwise, on
rubric tasks the model sees the document, the item, its question type and the full rubric, and returns the
four checks of METHOD.md section 2 (leakage, question quality, rubric, type label) as separate verdicts; the
item passes only if all four pass, which is decided here. Verifiable items get a pass/fail
judgement with reasons.
"""

from __future__ import annotations

from typing import Any

from autodata.rules.format_rules import Violation, item_violations, rubric_counts
from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import (
    family_of,
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.state.context import RunContext
from autodata.state.llm_outputs import QualityAssessment
from autodata.state.quality_outputs import QualityReport
from autodata.state.schemas import CandidateItem, QualityVerdict, RoundOutcome, TaskFamily
from autodata.state.self_instruct import SelfInstructState

# Recorded when the model's output (not the item) was unusable after its re-asks (nodes.baseline_assess matches it).
QUALITY_CALL_FAILED = "quality verifier call failed"


def code_rule_verdict(violations: list[Violation], stage: str, **fields: Any) -> QualityVerdict:
    return QualityVerdict(
        passed=False, reasons=[v.message for v in violations], rule=violations[0].rule, stage=stage, **fields
    )


def verdict_from_report(report: QualityReport, item: CandidateItem) -> QualityVerdict:
    """The four checks as recorded; `passed` only when every one passes. An item without a question type label
    (tasks whose challenger writes none) has no label to check."""
    labelled = bool(item.question_type.strip())
    failed: list[tuple[str, str]] = []
    if report.leakage != "OK":
        failed.append(("leakage", "verifier: leakage: LEAKS_ANSWER"))
    if report.question_quality != "GOOD":
        failed.append(("question_quality", f"verifier: question: {report.question_quality}"))
    if report.rubric != "PASS":
        issues = "; ".join(issue.strip() for issue in report.rubric_issues if issue.strip())
        failed.append(("rubric", f"verifier: rubric: FAIL{f' ({issues})' if issues else ''}"))
    if labelled and not report.type_matches:
        failed.append(("question_type", f"verifier: the type label {item.question_type!r} does not match the question"))
    reasons = [reason for _, reason in failed]
    if failed and report.feedback.strip():
        reasons.append(f"verifier: {report.feedback.strip()}")
    return QualityVerdict(
        passed=not failed,
        reasons=reasons,
        rule=failed[0][0] if failed else None,
        leakage=report.leakage,
        question_quality=report.question_quality,
        rubric_check=report.rubric,
        rubric_counts=rubric_counts(item.rubric),
        rubric_issues=[issue for issue in report.rubric_issues if issue.strip()],
        type_matches=report.type_matches if labelled else None,
        feedback=report.feedback.strip(),
    )


def verdict_from_assessment(assessment: QualityAssessment) -> QualityVerdict:
    if assessment.passed:
        return QualityVerdict(passed=True)
    reasons = [f"verifier: {r}" for r in assessment.reasons if r.strip()] or ["verifier: rejected"]
    return QualityVerdict(passed=False, reasons=reasons, rule="verifier")


async def _model_verdict(
    state: SelfInstructState, ctx: RunContext, provider: ModelProvider
) -> tuple[QualityVerdict, dict[str, Any]]:
    family = family_of(ctx)
    schema = QualityReport if family is TaskFamily.RUBRIC else QualityAssessment
    messages = prompt_library(ctx.prompts_dir).messages(
        f"quality_verifier_{family.value}", document=state.document, item=state.item
    )
    result = await provider.structured(
        "quality_verifier", schema, messages, metadata={**trace_metadata(state, ctx), "stage": "initial"}
    )
    result.raise_if_endpoint_failed()
    update: dict[str, Any] = usage_update("quality_verifier", result.usage)
    if not result.ok:
        update["round_error"] = f"quality_verifier: {result.error}"
        return QualityVerdict(passed=False, reasons=[QUALITY_CALL_FAILED]), update
    if family is TaskFamily.RUBRIC:
        return verdict_from_report(result.value, state.item), update
    return verdict_from_assessment(result.value), update


async def quality_verifier(
    state: SelfInstructState, runtime: Any, *, provider: ModelProvider, question_types: tuple[str, ...] | None = None
) -> dict[str, Any]:
    ctx = run_context(runtime)
    labels = question_types if family_of(ctx) is TaskFamily.RUBRIC else None  # a verifiable draft has no labels
    violations = item_violations(state.item, family_of(ctx), ctx.policy, labels)
    if violations:
        counts = rubric_counts(state.item.rubric) if family_of(ctx) is TaskFamily.RUBRIC else None
        verdict, update = code_rule_verdict(violations, "initial", rubric_counts=counts), {}
    else:
        verdict, update = await _model_verdict(state, ctx, provider)
    update["quality"] = [verdict]
    if not verdict.passed:
        model_error = "round_error" in update
        update["outcome"] = RoundOutcome.MODEL_ERROR if model_error else RoundOutcome.FAILED_QUALITY_CHECK
        update["rule"] = None if model_error else verdict.rule
    return update

"""Quality verifier: code format rules plus the quality-verifier model's judgement.

Runs at the start of every round, and once more on an accepted item before it is kept.
"""

from __future__ import annotations

from typing import Any

from autodata.format_rules import format_violations
from autodata.models import current_provider
from autodata.nodes._common import (
    family_of,
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.state.llm_outputs import QualityAssessment
from autodata.state.schemas import QualityVerdict, RoundOutcome
from autodata.state.self_instruct_state import SelfInstructState


async def _verify(state: SelfInstructState, runtime: Any, stage: str) -> tuple[QualityVerdict, dict[str, Any]]:
    ctx = run_context(runtime)
    family = family_of(ctx)
    reasons = format_violations(state.item, family, ctx.policy)
    messages = prompt_library(ctx.prompts_dir).messages(
        f"quality_verifier_{family.value}", document=state.document, item=state.item
    )
    result = await current_provider().structured(
        "quality_verifier", QualityAssessment, messages, metadata={**trace_metadata(state, ctx), "stage": stage}
    )
    result.raise_if_endpoint_failed()
    update: dict[str, Any] = usage_update("quality_verifier", result.usage)
    if not result.ok:
        update["round_error"] = f"quality_verifier: {result.error}"
        return QualityVerdict(passed=False, reasons=[*reasons, "quality verifier call failed"], stage=stage), update
    if not result.value.passed:
        reasons += [f"verifier: {r}" for r in result.value.reasons if r.strip()] or ["verifier: rejected"]
    return QualityVerdict(passed=not reasons, reasons=reasons, stage=stage), update


async def quality_verifier(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    verdict, update = await _verify(state, runtime, "initial")
    update["quality"] = [verdict]
    if not verdict.passed:
        update["outcome"] = RoundOutcome.MODEL_ERROR if "round_error" in update else RoundOutcome.FAILED_QUALITY_CHECK
    return update


async def final_quality_check(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    """Second look at an item that met the acceptance policy; a failure sends it back to the orchestrator."""
    verdict, update = await _verify(state, runtime, "final")
    update["quality"] = [*state.quality, verdict]
    if not verdict.passed:
        update["outcome"] = RoundOutcome.MODEL_ERROR if "round_error" in update else RoundOutcome.FAILED_QUALITY_CHECK
    return update

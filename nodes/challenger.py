"""Challenger: writes the round's candidate item from the document and the feedback so far."""

from __future__ import annotations

from typing import Any

from autodata.models import current_provider
from autodata.nodes._common import (
    family_of,
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.state.llm_outputs import RubricItemDraft, VerifiableItemDraft
from autodata.state.schemas import CandidateItem, RoundOutcome, TaskFamily
from autodata.state.self_instruct_state import SelfInstructState


async def challenger(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    ctx = run_context(runtime)
    round_ = state.round + 1
    family = family_of(ctx)
    messages = prompt_library(ctx.prompts_dir).messages(
        f"challenger_{ctx.task}",
        document=state.document,
        feedback=state.feedback,
        round=round_,
        max_rounds=ctx.max_rounds,
        policy=ctx.policy,
    )
    schema = RubricItemDraft if family is TaskFamily.RUBRIC else VerifiableItemDraft
    result = await current_provider().structured(
        "challenger", schema, messages, metadata={**trace_metadata(state, ctx), "round": round_}
    )
    result.raise_if_endpoint_failed()  # retried on the next run; malformed output is this round's verdict
    fresh_round: dict[str, Any] = {"round": round_, "quality": [], "outcome": None, "round_error": None}
    if not result.ok:
        return {
            **fresh_round,
            "item": None,
            "outcome": RoundOutcome.MODEL_ERROR,
            "round_error": f"challenger: {result.error}",
            **usage_update("challenger", result.usage),
        }
    item = CandidateItem.model_validate(result.value.model_dump())
    return {**fresh_round, "item": item, **usage_update("challenger", result.usage)}

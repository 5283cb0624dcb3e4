"""Challenger: writes the round's candidate item from the document, its earlier questions and the instruction.

The prompt gets the refinement memory (every earlier question of this document, grouped by why it failed,
built from the trajectory) and the orchestrator's latest instruction verbatim. Prompts put these per-round
parts after the document, so each round's request starts like the first one (prefix caching).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import (
    family_of,
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.nodes.self_instruct.refinement import refinement_memory
from autodata.state.context import RunContext
from autodata.state.llm_outputs import ResearchItemDraft, VerifiableItemDraft
from autodata.state.schemas import CandidateItem, RoundOutcome, TaskFamily
from autodata.state.self_instruct import SelfInstructState

def draft_schema(ctx: RunContext) -> type[BaseModel]:
    """A rubric task's challenger writes the research draft (question type, analysis, then the rubric)."""
    return ResearchItemDraft if family_of(ctx) is TaskFamily.RUBRIC else VerifiableItemDraft


def latest_instruction(state: SelfInstructState) -> str:
    return state.feedback[-1].advice if state.feedback else ""


async def challenger(state: SelfInstructState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = run_context(runtime)
    round_ = state.round + 1
    messages = prompt_library(ctx.prompts_dir).messages(
        f"challenger_{ctx.task}",
        document=state.document,
        feedback=state.feedback,
        memory=refinement_memory(state.rounds),
        instruction=latest_instruction(state),
        round=round_,
        max_rounds=ctx.max_rounds,
        policy=ctx.policy,
    )
    result = await provider.structured(
        "challenger", draft_schema(ctx), messages, metadata={**trace_metadata(state, ctx), "round": round_}
    )
    result.raise_if_endpoint_failed()  # retried on the next run; malformed output is this round's verdict
    fresh_round: dict[str, Any] = {"round": round_, "quality": [], "outcome": None, "round_error": None, "rule": None}
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

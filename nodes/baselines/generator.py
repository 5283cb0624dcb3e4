"""Baseline generator: writes one item per document in a single pass, with no feedback loop.

CoT-Self-Instruct asks the model to reason step by step about the source first (a `reasoning` field placed
before the item in the structured answer); Self-Instruct asks for the item directly. Both use the challenger
role's model and the same prompt file, so the reasoning step is the only difference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import (
    context_as,
    family_of,
    prompt_library,
    run_context,
    trace_metadata,
    usage_update,
)
from autodata.state.baselines import BaselineContext, BaselineState, Method, with_reasoning_first
from autodata.state.llm_outputs import RubricItemDraft, VerifiableItemDraft
from autodata.state.schemas import CandidateItem, RoundOutcome, TaskFamily

_DRAFTS = {TaskFamily.RUBRIC: RubricItemDraft, TaskFamily.VERIFIABLE: VerifiableItemDraft}
_REASONED_DRAFTS = {family: with_reasoning_first(schema) for family, schema in _DRAFTS.items()}


def draft_schema(family: TaskFamily, cot: bool) -> type:
    return (_REASONED_DRAFTS if cot else _DRAFTS)[family]


def make_generator(
    method: Method, provider: ModelProvider
) -> Callable[[BaselineState, Any], Awaitable[dict[str, Any]]]:
    cot = method == "cot-self-instruct"

    async def generate(state: BaselineState, runtime: Any) -> dict[str, Any]:
        ctx = run_context(runtime)
        family = family_of(ctx)
        messages = prompt_library(ctx.prompts_dir).messages(
            f"baseline_{family.value}",
            cot=cot,
            document=state.document,
            task_description=context_as(runtime, BaselineContext).task_description,
            policy=ctx.policy,
        )
        result = await provider.structured(
            "challenger", draft_schema(family, cot), messages,
            metadata={**trace_metadata(state, ctx), "round": 1, "method": method},
        )  # fmt: skip
        result.raise_if_endpoint_failed()
        update: dict[str, Any] = {"round": 1, "method": method, **usage_update("challenger", result.usage)}
        if not result.ok:
            return {**update, "outcome": RoundOutcome.MODEL_ERROR, "round_error": f"challenger: {result.error}"}
        draft = result.value.model_dump()
        return {**update, "item": CandidateItem.model_validate(draft), "reasoning": draft.get("reasoning", "")}

    generate.__name__ = "generate_cot" if cot else "generate"
    return generate

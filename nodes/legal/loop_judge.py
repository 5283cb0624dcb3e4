"""Loop judge: reads the diagnostic packet and returns its analysis, GRPO suitability and verdict.

Every field is stored on the round. The decision node applies the verdict; nothing can turn an improve
into an acceptance.
"""

from __future__ import annotations

from typing import Any

from autodata.rules.legal_diagnostics import item_view, packet_view
from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.legal.common import legal_context, legal_metadata
from autodata.state.legal import LegalState, LoopJudgeVerdict


async def loop_judge(state: LegalState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = legal_context(runtime)
    messages = prompt_library(ctx.prompts_dir).messages(
        "loop_judge_legal", item=item_view(state.item), packet=packet_view(state.packet)
    )
    result = await provider.structured(
        "orchestrator", LoopJudgeVerdict, messages, metadata=legal_metadata(state, ctx, step="loop_judge")
    )
    result.raise_if_endpoint_failed()  # the document stops and is retried; never a verdict
    usage = usage_update("orchestrator", result.usage)
    if not result.ok:  # malformed after the re-asks: a model_error round, never an acceptance
        return {"judge": None, "round_error": f"loop judge: {result.error}", **usage}
    return {"judge": result.value, **usage}

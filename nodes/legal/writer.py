"""Legal writer: a new client scenario built on the document's principle, and a capability-tagged rubric.

On an improve round it reads the previous round whole (question verbatim, diagnostic packet, the loop
judge's analysis and suggestion verbatim, post-filter overrides, shape rejections). Shape rules are
checked here in code; a violation is recorded as the round's rejection reasons, not raised.
"""

from __future__ import annotations

from typing import Any

from autodata.rules.legal_diagnostics import round_view
from autodata.rules.legal_shape import rubric_shape_violations
from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.legal.common import legal_context, legal_metadata, new_round
from autodata.state.legal import LegalItem, LegalState


async def write_item(state: LegalState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = legal_context(runtime)
    round_ = state.round + 1
    messages = prompt_library(ctx.prompts_dir).messages(
        "writer_legal",
        document=state.document,
        extract=state.extract,
        previous=round_view(state.rounds[-1]) if state.rounds else None,
        shape=ctx.shape,
        round=round_,
        max_rounds=ctx.max_improve_rounds + 1,
    )
    result = await provider.structured(
        "challenger", LegalItem, messages, metadata={**legal_metadata(state, ctx), "round": round_, "step": "write"}
    )
    result.raise_if_endpoint_failed()  # the document stops and is retried from this step on the next run
    usage = usage_update("challenger", result.usage)
    if not result.ok:
        return {**new_round(round_), "round_error": f"writer: {result.error}", **usage}
    item: LegalItem = result.value
    return {**new_round(round_, item, rubric_shape_violations(item, ctx.shape)), **usage}

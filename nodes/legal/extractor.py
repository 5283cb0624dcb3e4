"""Legal extractor: once per document, decides suitability and extracts issues, facts and holdings.

An unsuitable document ends here as `skipped` (one model call); an extract still malformed after the re-asks
ends it `exhausted` with a model_error record. The extract stays in the checkpointed
state: improve rounds and resumed runs read it from there and never call the extractor again.
"""

from __future__ import annotations

from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.legal.common import legal_context, legal_metadata
from autodata.state.legal import LegalExtract, LegalRoundRecord, LegalState


async def extract(state: LegalState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = legal_context(runtime)
    messages = prompt_library(ctx.prompts_dir).messages("extractor_legal", document=state.document)
    result = await provider.structured(
        "challenger", LegalExtract, messages, metadata=legal_metadata(state, ctx, step="extract")
    )
    # An endpoint failure stops the document here (kept in its checkpoint, retried on the next run).
    result.raise_if_endpoint_failed()
    usage = usage_update("challenger", result.usage)
    if not result.ok:
        # Malformed after the re-asks: the model's answer, recorded like any model_error; no round can start.
        record = LegalRoundRecord(round=0, outcome="model_error", error=f"extractor: {result.error}")
        return {"rounds": [record], "status": "exhausted", **usage}
    found: LegalExtract = result.value
    update: dict[str, Any] = {"extract": found, **usage}
    if not found.suitable_for_synthetic_question:
        update.update(status="skipped", skip_reason=found.suitability_reason.strip() or "unsuitable document")
    return update

"""Implementer: a model rewrites the editable prompt files (file name -> full new content) per the analysis.

Its output is only a proposal: the validate node passes it through the frozen-prompt guard and checks every
file still renders before a child version exists.
"""

from __future__ import annotations

from typing import Any

from autodata.models import current_provider
from autodata.nodes._common import prompt_library
from autodata.nodes.meta_common import add_usage, meta_context, meta_role, version_store
from autodata.prompt_versions import editable_names, frozen_names
from autodata.state.meta_state import IterationState, PromptRewrite


async def implement(state: IterationState, runtime: Any) -> dict[str, Any]:
    ctx = meta_context(runtime)
    parent_files = version_store(ctx).files(state.parent)
    editable = editable_names(ctx.task)
    messages = prompt_library(None).messages(
        "implementer",
        task=ctx.task,
        analysis=state.analysis,
        files=[{"name": f"{name}.md", "content": parent_files[name]} for name in editable],
        editable=[f"{name}.md" for name in editable],
        frozen=[f"{name}.md" for name in frozen_names(ctx.task)],
    )
    provider = current_provider()
    role = meta_role(provider, "implementer")
    metadata = {"meta_role": "implementer", "iteration": state.iteration}
    result = await provider.structured(role, PromptRewrite, messages, metadata=metadata)
    usage = add_usage(state.usage, "implementer", result.usage)
    if not result.ok:
        return {"usage": usage, "error": f"implementer: {result.error}"}
    return {"usage": usage, "rewrite": result.value}

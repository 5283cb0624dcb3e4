"""Implementer: a model rewrites the editable prompt files (file name -> full new content) per the analysis,
reading the run's memory so that it does not repeat a discarded change.

Its output is only a proposal: the validate node passes it through the frozen-prompt guard, the copy guard
and the template checks before a child version exists. The prompt states the template rules of
autodata/prompting/sandbox.py, so edits are not rejected for syntax the sandbox forbids.
"""

from __future__ import annotations

from typing import Any

from autodata.meta.memory import EMPTY_MEMORY
from autodata.nodes.shared.common import prompt_library
from autodata.nodes.meta.common import MetaServices, add_usage, meta_context, meta_role, version_store
from autodata.prompting.library import USER_MARKER
from autodata.prompting.sandbox import ALLOWED_FILTERS
from autodata.prompting.versions import MAX_PROMPT_CHARS
from autodata.state.meta import IterationState, PromptRewrite


async def implement(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    scope = services.scope(ctx)
    parent_files = version_store(ctx, services).files(state.parent)
    editable = scope.editable_names()
    messages = prompt_library(None).messages(
        "implementer",
        task=ctx.task,
        analysis=state.analysis,
        memory=state.memory or EMPTY_MEMORY,
        files=[{"name": f"{name}.md", "content": parent_files[name]} for name in editable],
        editable=[f"{name}.md" for name in editable],
        frozen=[f"{name}.md" for name in scope.frozen_names()],
        filters=sorted(ALLOWED_FILTERS),
        max_chars=MAX_PROMPT_CHARS,
        marker=USER_MARKER,  # written as a variable: the literal line in this file would split it there
    )
    provider = services.provider
    role = meta_role(provider, "implementer")
    metadata = {"meta_role": "implementer", "iteration": state.iteration}
    result = await provider.structured(role, PromptRewrite, messages, metadata=metadata)
    usage = add_usage(state.usage, "implementer", result.usage)
    if not result.ok:
        return {"usage": usage, "error": f"implementer: {result.error}"}
    return {"usage": usage, "rewrite": result.value}

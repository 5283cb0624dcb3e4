"""Small helpers every node uses: the run context, prompt library and trace metadata."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from autodata.prompts import PromptLibrary
from autodata.tasks import task_spec
from state.context import RunContext
from state.graph_state import SelfInstructState
from state.schemas import RoleUsage, TaskFamily


def run_context(runtime: Any) -> RunContext:
    """The run's context; an absent or dict context (LangGraph API) becomes a validated RunContext."""
    context = getattr(runtime, "context", None)
    if isinstance(context, RunContext):
        return context
    return RunContext.model_validate(context or {})


def family_of(ctx: RunContext) -> TaskFamily:
    return task_spec(ctx.task).family


@lru_cache(maxsize=32)
def prompt_library(prompts_dir: str | None) -> PromptLibrary:
    return PromptLibrary(prompts_dir)


def trace_metadata(state: SelfInstructState, ctx: RunContext) -> dict[str, Any]:
    return {"task": ctx.task, "document_id": state.document.doc_id, "round": state.round, "run_id": ctx.run_id}


def usage_update(role: str, usage: RoleUsage) -> dict[str, dict[str, RoleUsage]]:
    return {"usage": {role: usage}}

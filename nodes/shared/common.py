"""Small helpers every node uses: the run context, prompt library and trace metadata."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel

from autodata.prompting.library import PromptLibrary
from autodata.state.context import RunContext
from autodata.state.schemas import RoleUsage, TaskFamily
from autodata.state.self_instruct import SelfInstructState

ContextT = TypeVar("ContextT", bound=BaseModel)


def context_as(runtime: Any, schema: type[ContextT]) -> ContextT:
    """The graph's context as `schema`: an absent or dict context (LangGraph API) is validated into one."""
    context = getattr(runtime, "context", None)
    if isinstance(context, schema):
        return context
    if isinstance(context, BaseModel):  # another graph's context read by a shared node (legal -> solver, judge)
        context = context.model_dump()
    return schema.model_validate(context or {})


def run_context(runtime: Any) -> RunContext:
    return context_as(runtime, RunContext)


def family_of(ctx: RunContext) -> TaskFamily:
    """The run's task family, as the task registry put it into the context (or the context type's default)."""
    return ctx.task_family


@lru_cache(maxsize=32)
def prompt_library(prompts_dir: str | None) -> PromptLibrary:
    return PromptLibrary(prompts_dir)


def trace_metadata(state: SelfInstructState, ctx: RunContext) -> dict[str, Any]:
    return {"task": ctx.task, "document_id": state.document.doc_id, "round": state.round, "run_id": ctx.run_id}


def usage_update(role: str, usage: RoleUsage) -> dict[str, dict[str, RoleUsage]]:
    return {"usage": {role: usage}}

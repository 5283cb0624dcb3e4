"""Solvers: the weak and the strong solver share this node and its prompt; each `Send` is one sample of one role.

Both roles get the same messages for an item: they differ by model (and by whatever their settings make differ,
which runs report as `solver_asymmetry`), never by what they are told.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import family_of, prompt_library, run_context, usage_update
from autodata.rules.scoring import extract_final_answer
from autodata.state.schemas import SolverAttempt, SolverRole
from autodata.state.self_instruct import SelfInstructState, SolveTask


def solver_sends(state: SelfInstructState, runtime: Any, role: SolverRole) -> list[Send]:
    """Fan out the role's samples (weak_samples or strong_samples) in parallel; the role's scorer fans them in."""
    ctx = run_context(runtime)
    node = f"{role}_solver"
    return [
        Send(node, SolveTask(role=role, sample_index=i, round=state.round, item=state.item, document=state.document))
        for i in range(ctx.samples_for(role))
    ]


async def solve(task: SolveTask, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = run_context(runtime)
    family = family_of(ctx)
    messages = prompt_library(ctx.prompts_dir).messages(
        task.prompt or f"solver_{family.value}",
        question=task.item.question,
        context=task.item.context,
        reasoning=provider.config(task.role).reasoning,
    )
    metadata = {"task": ctx.task, "document_id": task.document.doc_id, "round": task.round, "sample": task.sample_index}
    result = await provider.text(task.role, messages, metadata=metadata)
    result.raise_if_endpoint_failed()  # no answer is not a wrong answer: the document is retried instead
    reply = result.value or ""
    attempt = SolverAttempt(
        round=task.round,
        role=task.role,
        sample_index=task.sample_index,
        answer=reply,
        final_answer=extract_final_answer(reply) if result.ok else "",
        error=result.error,
    )
    return {"attempts": [attempt], **usage_update(task.role, result.usage)}

"""Science solvers: each `Send` is one weak or strong sample on one screened candidate (same prompt for both
roles; they differ by model). An endpoint failure (an empty reply included) says nothing about the question:
the model layer retries the call, and a call that still fails stops the document, which the next run resumes
from its checkpoint; it is never scored. Malformed output cannot happen here (free text)."""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.science.common import science_context
from autodata.rules.scoring import extract_final_answer
from autodata.state.science import ScienceAttempt, ScienceSolveTask, ScienceState


def science_solver_sends(state: ScienceState, runtime: Any) -> list[Send]:
    ctx = science_context(runtime)
    return [
        Send("solver", ScienceSolveTask(
            round=state.round, candidate=c.index, role=role, sample_index=i, item=c.item,
            document_id=state.document.doc_id,
        ))  # fmt: skip
        for c in state.selected()
        for role in ("weak", "strong")
        for i in range(ctx.samples_for(role))
    ]


async def science_solve(task: ScienceSolveTask, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = science_context(runtime)
    messages = prompt_library(ctx.prompts_dir).messages(
        "solver_verifiable",
        question=task.item.question,
        context=task.item.context,
        reasoning=provider.config(task.role).reasoning,
    )
    metadata = {
        "task": ctx.task, "document_id": task.document_id, "round": task.round,
        "candidate": task.candidate, "sample": task.sample_index,
    }  # fmt: skip
    result = await provider.text(task.role, messages, metadata=metadata)
    result.raise_if_endpoint_failed()  # no answer is not a wrong answer: the document is retried instead
    reply = result.value or ""
    attempt = ScienceAttempt(
        round=task.round, candidate=task.candidate, role=task.role, sample_index=task.sample_index,
        answer=reply, final_answer=extract_final_answer(reply) if result.ok else "", error=result.error,
    )  # fmt: skip
    return {"attempts": [attempt], **usage_update(task.role, result.usage)}

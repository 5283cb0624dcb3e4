"""Solvers: the weak and the strong solver share this node; each `Send` is one sample of one role."""

from __future__ import annotations

import re
from typing import Any

from autodata.nodes._common import family_of, prompt_library, run_context, usage_update
from autodata.state.schemas import SolverAttempt, SolverRole
from autodata.state.self_instruct_state import SelfInstructState, SolveTask
from langgraph.types import Send

from autodata.models import current_provider

MAX_BARE_ANSWER_CHARS = 40
_FINAL_LINE = re.compile(r"final answer\s*[:：]\s*(.+)", re.IGNORECASE)


def _boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def extract_final_answer(reply: str) -> str:
    """The answer a verifiable-task reply commits to: 'Final answer: X', else \\boxed{X}, else the whole reply
    when it is one short line (an answer-only reply). Anything else commits to nothing: taking, say, the last
    line of a worked solution would credit an intermediate step such as "10-4" as the answer 6."""
    matches = _FINAL_LINE.findall(reply)
    if matches:
        return matches[-1].strip().rstrip(".").strip()
    boxed = _boxed(reply)
    if boxed is not None:
        return boxed.strip()
    stripped = reply.strip()
    return stripped if "\n" not in stripped and len(stripped) <= MAX_BARE_ANSWER_CHARS else ""


def solver_sends(state: SelfInstructState, runtime: Any, role: SolverRole) -> list[Send]:
    """Fan out k samples of `role` in parallel; the scorer for that role fans them back in."""
    ctx = run_context(runtime)
    node = f"{role}_solver"
    return [
        Send(node, SolveTask(role=role, sample_index=i, round=state.round, item=state.item, document=state.document))
        for i in range(ctx.samples)
    ]


async def solve(task: SolveTask, runtime: Any) -> dict[str, Any]:
    ctx = run_context(runtime)
    family = family_of(ctx)
    provider = current_provider()
    messages = prompt_library(ctx.prompts_dir).messages(
        f"solver_{family.value}",
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

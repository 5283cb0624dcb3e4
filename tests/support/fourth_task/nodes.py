"""The glossary graph's two nodes: the writer drafts an entry; the checker has both solvers answer it, checks
each answer as verifiable answers are checked everywhere (the answer checker, the answer judge only where the
checker is undecided) and decides in code: every strong answer right, at least one weak answer wrong."""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import context_as, prompt_library
from autodata.rules.scoring import check_final_answer, extract_final_answer
from autodata.state.schemas import RoleUsage, SolverRole
from autodata.state.self_instruct import merge_usage
from tests.support.fourth_task.state import GlossaryContext, GlossaryEntry, GlossaryRound, GlossaryState

WRITER_PROMPT, SOLVER_PROMPT = "glossary_writer", "glossary_solver"
JUDGE_PROMPT = "judge_answer"  # shipped: the answer judge every verifiable task shares


async def write_entry(state: GlossaryState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = context_as(runtime, GlossaryContext)
    round_ = state.round + 1
    messages = prompt_library(ctx.prompts_dir).messages(
        WRITER_PROMPT, document=state.document, round=round_, max_rounds=ctx.max_rounds,
        max_answer_words=ctx.max_answer_words, previous=state.rounds[-1] if state.rounds else None,
    )  # fmt: skip
    result = await provider.structured("challenger", GlossaryEntry, messages, metadata={"round": round_})
    result.raise_if_endpoint_failed()
    return {"round": round_, "draft": result.value if result.ok else None, "usage": {"challenger": result.usage}}


async def answer_is_right(
    provider: ModelProvider, ctx: GlossaryContext, role: SolverRole, entry: GlossaryEntry
) -> tuple[bool, dict[str, RoleUsage]]:
    """One solver sample through the task's solver prompt, checked against the term."""
    prompts = prompt_library(ctx.prompts_dir)
    reasoning = provider.config(role).reasoning
    messages = prompts.messages(SOLVER_PROMPT, question=entry.question, context="", reasoning=reasoning)
    result = await provider.text(role, messages, metadata={"task": ctx.task})
    result.raise_if_endpoint_failed()
    if not result.ok:
        return False, {role: result.usage}
    verdict = await check_final_answer(
        provider, prompts, question=entry.question, answer=extract_final_answer(result.value or ""),
        reference=entry.reference_answer, metadata={"task": ctx.task},
    )  # fmt: skip
    if verdict.failure is not None:
        raise verdict.failure
    return bool(verdict.correct), merge_usage({role: result.usage}, {"judge": verdict.usage})


def round_status(state: GlossaryState, ctx: GlossaryContext, accepted: bool) -> str:
    if accepted:
        return "accepted"
    return "exhausted" if state.round >= ctx.max_rounds else "running"


async def check_entry(state: GlossaryState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = context_as(runtime, GlossaryContext)
    entry = state.draft
    if entry is None:
        record = GlossaryRound(round=state.round, outcome="model_error", rule="writer")
        return {"rounds": [record], "status": round_status(state, ctx, accepted=False)}
    roles: list[SolverRole] = ["weak"] * ctx.samples_for("weak") + ["strong"] * ctx.samples_for("strong")
    answers = await asyncio.gather(*(answer_is_right(provider, ctx, role, entry) for role in roles))
    usage: dict[str, RoleUsage] = {}
    for _, spent in answers:
        usage = merge_usage(usage, spent)
    weak = [right for role, (right, _) in zip(roles, answers, strict=True) if role == "weak"]
    strong = [right for role, (right, _) in zip(roles, answers, strict=True) if role == "strong"]
    accepted = all(strong) and not all(weak)
    outcome = "accepted" if accepted else "too_hard" if not all(strong) else "too_easy"
    rule = {"accepted": None, "too_hard": "strong_missed", "too_easy": "weak_all_right"}[outcome]
    record = GlossaryRound(
        round=state.round, entry=entry, weak_correct=weak, strong_correct=strong, outcome=outcome, rule=rule
    )
    return {"rounds": [record], "status": round_status(state, ctx, accepted), "usage": usage}

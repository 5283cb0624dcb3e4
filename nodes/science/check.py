"""Answer check: every sample's final answer against the reference. math-verify decides where it can; where
it cannot (phrases, named entities, units) the judge compares the two answers. Which one decided is recorded.
A judge endpoint failure stops the document (retried from its checkpoint); a malformed verdict leaves the
sample unscored, and its candidate cannot be accepted."""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.science.common import science_context, science_metadata
from autodata.rules.scoring import check_final_answer
from autodata.state.schemas import RoleUsage
from autodata.state.science import AnswerCheck, ScienceAttempt, ScienceState


async def _check(
    state: ScienceState, attempt: ScienceAttempt, runtime: Any, provider: ModelProvider
) -> tuple[AnswerCheck, RoleUsage]:
    ctx = science_context(runtime)
    base = {"round": attempt.round, "candidate": attempt.candidate, "role": attempt.role,
            "sample_index": attempt.sample_index}  # fmt: skip
    if attempt.error:  # the solver's endpoint failures raise before an attempt is recorded; kept for safety
        return AnswerCheck(**base, correct=None, decided_by="unscored", reason=f"solver: {attempt.error}"), RoleUsage()
    item = next(c.item for c in state.screened if c.index == attempt.candidate)
    verdict = await check_final_answer(
        provider, prompt_library(ctx.prompts_dir),
        question=item.question, answer=attempt.final_answer, reference=item.reference_answer,
        metadata=science_metadata(state, ctx, candidate=attempt.candidate, sample=attempt.sample_index,
                                  graded=attempt.role),
    )  # fmt: skip
    if verdict.failure is not None:
        raise verdict.failure  # the judge's endpoint failed: the document is retried, the sample never scored
    check = AnswerCheck(**base, correct=verdict.correct, decided_by=verdict.decided_by, reason=verdict.reason)
    return check, verdict.usage


async def check_answers(state: ScienceState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    checked = await asyncio.gather(*(_check(state, a, runtime, provider) for a in state.round_attempts()))
    usage = RoleUsage()
    for _, u in checked:
        usage = usage.plus(u)
    return {"checks": [check for check, _ in checked], **usage_update("judge", usage)}

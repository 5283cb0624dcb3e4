"""Judge (rubric tasks): grades each attempt criterion by criterion, blind to the reference answer."""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library
from autodata.rules.scoring import grade_rubric
from autodata.llm.settings import ConfigError
from autodata.state.context import RunContext
from autodata.state.schemas import (
    AttemptScore,
    CandidateItem,
    RoleUsage,
    SolverAttempt,
)


async def _grade(
    provider: ModelProvider, attempt: SolverAttempt, item: CandidateItem, ctx: RunContext, metadata: dict[str, Any]
) -> tuple[AttemptScore, RoleUsage]:
    base = {"round": attempt.round, "role": attempt.role, "sample_index": attempt.sample_index}
    if attempt.error:
        # The solver call itself failed: there is no answer to grade, and the failure is already recorded.
        return AttemptScore(**base, score=None, error=f"solver: {attempt.error}"), RoleUsage()
    metadata = {**metadata, "sample": attempt.sample_index, "graded": attempt.role}
    grade = await grade_rubric(
        provider, prompt_library(ctx.prompts_dir),
        question=item.question, context=item.context, answer=attempt.answer, rubric=item.rubric, metadata=metadata,
    )  # fmt: skip
    if grade.endpoint_failure is not None:
        raise grade.endpoint_failure
    if grade.error is not None:
        return AttemptScore(**base, score=None, error=f"judge: {grade.error}"), grade.usage
    return AttemptScore(**base, score=grade.score, criteria_hits=grade.hits), grade.usage


def raise_first_error(outcomes: list[Any]) -> None:
    """Raise the first exception among `outcomes`, one that stops the run (a ConfigError) before any other."""
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise next((error for error in errors if isinstance(error, ConfigError)), errors[0])


async def judge_attempts(
    provider: ModelProvider,
    attempts: list[SolverAttempt],
    item: CandidateItem,
    ctx: RunContext,
    metadata: dict[str, Any],
) -> tuple[list[AttemptScore], RoleUsage]:
    # Every grade runs to its end before an endpoint failure is raised, so no call is left running unwatched.
    grades = (_grade(provider, attempt, item, ctx, metadata) for attempt in attempts)
    outcomes = await asyncio.gather(*grades, return_exceptions=True)
    raise_first_error(outcomes)
    usage = RoleUsage()
    for _, u in outcomes:
        usage = usage.plus(u)
    return [score for score, _ in outcomes], usage

"""Judge (rubric tasks): grades each attempt criterion by criterion, blind to the reference answer."""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.nodes._common import prompt_library
from autodata.state.context import RunContext
from autodata.state.llm_outputs import grades_schema
from autodata.state.schemas import (
    AttemptScore,
    CandidateItem,
    RoleUsage,
    RubricCriterion,
    SolverAttempt,
)

from autodata.models import current_provider
from autodata.settings import ConfigError


def rubric_score(criteria: list[RubricCriterion], hits: list[bool]) -> float:
    """clip(sum(w_i * hit_i) / sum(positive w), 0, 1); a hit on a negative criterion is the mistake made."""
    positive = sum(c.weight for c in criteria if c.weight > 0)
    if positive <= 0:
        return 0.0
    raw = sum(c.weight for c, hit in zip(criteria, hits, strict=True) if hit)
    return min(1.0, max(0.0, raw / positive))


async def _grade(
    attempt: SolverAttempt, item: CandidateItem, ctx: RunContext, metadata: dict[str, Any]
) -> tuple[AttemptScore, RoleUsage]:
    base = {"round": attempt.round, "role": attempt.role, "sample_index": attempt.sample_index}
    if attempt.error:
        # The solver call itself failed: there is no answer to grade, and the failure is already recorded.
        return AttemptScore(**base, score=None, error=f"solver: {attempt.error}"), RoleUsage()
    # The reference answer is deliberately not passed: the judge grades against the rubric alone.
    messages = prompt_library(ctx.prompts_dir).messages(
        "judge_rubric", question=item.question, context=item.context, answer=attempt.answer, criteria=item.rubric
    )
    # The schema admits exactly one verdict per criterion: a wrong count is re-asked like malformed output.
    schema = grades_schema(len(item.rubric))
    metadata = {**metadata, "sample": attempt.sample_index, "graded": attempt.role}
    result = await current_provider().structured("judge", schema, messages, metadata=metadata)
    result.raise_if_endpoint_failed()
    if not result.ok:
        return AttemptScore(**base, score=None, error=f"judge: {result.error}"), result.usage
    hits = list(result.value.verdicts)
    return AttemptScore(**base, score=rubric_score(item.rubric, hits), criteria_hits=hits), result.usage


def raise_first_error(outcomes: list[Any]) -> None:
    """Raise the first exception among `outcomes`, one that stops the run (a ConfigError) before any other."""
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise next((error for error in errors if isinstance(error, ConfigError)), errors[0])


async def judge_attempts(
    attempts: list[SolverAttempt], item: CandidateItem, ctx: RunContext, metadata: dict[str, Any]
) -> tuple[list[AttemptScore], RoleUsage]:
    # Every grade runs to its end before an endpoint failure is raised, so no call is left running unwatched.
    outcomes = await asyncio.gather(*(_grade(a, item, ctx, metadata) for a in attempts), return_exceptions=True)
    raise_first_error(outcomes)
    usage = RoleUsage()
    for _, u in outcomes:
        usage = usage.plus(u)
    return [score for score, _ in outcomes], usage

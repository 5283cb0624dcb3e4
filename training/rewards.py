"""Reward functions for GRPO and the scores evaluation reports.

- verifiable items: 1.0 when the answer checker (`autodata.rules.answers.check_answer`) decides the completion's
  final answer is correct, else 0.0. Where it is undecided (neither math-verify nor a safe text match settles it)
  the reward is 0.0 and the batch logs `answer_undecided`, the count of such completions: no guess either way.
- rubric items: the judge role grades the completion against the item's rubric through the model layer (the
  shipped `judge_rubric` prompt, blind to the reference answer) and `autodata.rules.scoring.rubric_score` turns the
  verdicts into [0, 1]. Completions are graded concurrently (asyncio.gather, bounded by a semaphore).

A judge call that still fails after the model layer's retries is never scored 0: it raises `JudgeFailure`,
and the TRL reward either re-raises it (stop training) or returns None for that completion, which GRPOTrainer
treats as unscorable (excluded from the group baseline, zero advantage); failures are counted in the logs.
When every judgement of a batch fails, training stops whatever the setting: the judge is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from autodata.llm.models import ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.rules.answers import Outcome, check_answer
from autodata.rules.scoring import grade_rubric
from autodata.state.schemas import RubricCriterion, TaskFamily
from autodata.training.errors import JudgeFailure

log = logging.getLogger(__name__)
OnJudgeFailure = Literal["skip", "raise"]


def completion_text(completion: str | Sequence[dict[str, Any]]) -> str:
    """A completion as text: TRL passes plain strings, or assistant messages for chat prompts."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content") or "") for m in completion if m.get("role", "assistant") == "assistant")


def verifiable_outcome(completion: str, reference: str) -> Outcome:
    return check_answer(completion, reference).outcome


def verifiable_score(completion: str, reference: str) -> float:
    """1.0 for a correct final answer; 0.0 for a wrong one and for one the checker cannot decide."""
    return 1.0 if verifiable_outcome(completion, reference) is Outcome.CORRECT else 0.0


class RubricJudge:
    """Grades answers against rubrics with the judge role; `concurrency` bounds the calls in flight."""

    def __init__(
        self, provider: ModelProvider | None = None, prompts: PromptLibrary | None = None, concurrency: int = 8
    ) -> None:
        self.provider = provider or ModelProvider.from_environment()
        self.prompts = prompts or PromptLibrary()
        self.concurrency = concurrency

    async def grade(
        self,
        question: str,
        context: str,
        answer: str,
        rubric: list[RubricCriterion],
        metadata: dict[str, Any] | None = None,
    ) -> float:
        if not any(c.weight > 0 for c in rubric):
            raise JudgeFailure("the item's rubric has no positively weighted criterion to grade against")
        grade = await grade_rubric(
            self.provider, self.prompts,
            question=question, context=context, answer=answer, rubric=rubric, metadata=metadata,
        )  # fmt: skip
        if grade.error is not None:
            raise JudgeFailure(f"judge failed after retries: {grade.error}")
        return grade.score

    async def grade_all(
        self, requests: Sequence[dict[str, Any]], on_done: Callable[[], None] | None = None
    ) -> list[float | JudgeFailure]:
        """Each request has question, context, answer, rubric (and optional metadata); failures come back in place."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(request: dict[str, Any]) -> float | JudgeFailure:
            async with gate:
                try:
                    return await self.grade(**request)
                except JudgeFailure as failure:
                    return failure
                finally:
                    if on_done is not None:
                        on_done()

        return list(await asyncio.gather(*(one(r) for r in requests)))


def parse_rubric(rubric: str | list[Any]) -> list[RubricCriterion]:
    raw = json.loads(rubric) if isinstance(rubric, str) else rubric
    return [RubricCriterion.model_validate(c) for c in raw]


def judge_request(
    question: str, context: str, answer: str, rubric: str | list[Any], item_id: str, purpose: str
) -> dict[str, Any]:
    """Keyword arguments for `RubricJudge.grade`; `purpose` and the item id go to the trace metadata."""
    return {
        "question": question, "context": context, "answer": answer, "rubric": parse_rubric(rubric),
        "metadata": {"item_id": item_id, "purpose": purpose},
    }  # fmt: skip


class VerifiableReward:
    """TRL reward: 1.0/0.0 by answer equivalence on verifiable rows, None (not applicable) on the others."""

    __name__ = "verifiable"

    def __call__(
        self, prompts, completions, family, reference_answer, log_metric=None, **kwargs
    ) -> list[float | None]:
        outcomes = [
            verifiable_outcome(completion_text(c), ref) if fam == TaskFamily.VERIFIABLE.value else None
            for c, fam, ref in zip(completions, family, reference_answer, strict=True)
        ]
        if log_metric is not None and any(o is not None for o in outcomes):
            log_metric("answer_undecided", float(sum(o is Outcome.UNDECIDED for o in outcomes)))
        return [None if o is None else 1.0 if o is Outcome.CORRECT else 0.0 for o in outcomes]


class RubricReward:
    """TRL reward (async): the judge's rubric score on rubric rows, None (not applicable) on the others."""

    __name__ = "rubric"

    def __init__(self, judge: RubricJudge, on_failure: OnJudgeFailure = "skip") -> None:
        self.judge = judge
        self.on_failure = on_failure

    async def __call__(
        self, prompts, completions, family, question, context, rubric, item_id, log_metric=None, **kwargs
    ) -> list[float | None]:
        rows = [i for i, fam in enumerate(family) if fam == TaskFamily.RUBRIC.value]
        answers = {i: completion_text(completions[i]) for i in rows}
        requests = [
            judge_request(question[i], context[i], answers[i], rubric[i], item_id[i], "grpo-reward") for i in rows
        ]
        graded = await self.judge.grade_all(requests)
        failures = [(item_id[i], g) for i, g in zip(rows, graded, strict=True) if isinstance(g, JudgeFailure)]
        if log_metric is not None and rows:
            log_metric("judge_failures", float(len(failures)))
        if failures:
            self._handle(failures, len(rows))
        rewards: list[float | None] = [None] * len(completions)
        for i, g in zip(rows, graded, strict=True):
            rewards[i] = None if isinstance(g, JudgeFailure) else g
        return rewards

    def _handle(self, failures: list[tuple[str, JudgeFailure]], graded: int) -> None:
        first_id, first = failures[0]
        summary = f"judge failed on {len(failures)} of {graded} completions (first: item {first_id}: {first})"
        # Every judgement of the batch failing means the judge is down or unusable, not a flaky grade:
        # training on would silently drop all rubric signal, so stop even in "skip" mode.
        if self.on_failure == "raise" or len(failures) == graded:
            raise JudgeFailure(summary)
        log.warning("%s; those completions are unscored (excluded from the GRPO baseline, zero advantage)", summary)

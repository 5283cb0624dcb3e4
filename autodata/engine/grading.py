"""Fresh grading of a run's final items (METHOD.md section 7): new weak and strong samples, the same judge.

An accepted round's in-loop scores were selected to pass, so they are biased upward, while a baseline's are not;
grading every method's final items afresh puts them on equal footing. Each item of items.jsonl is answered by
the weak and the strong solver through its task's solver prompt and scored the way its task scores answers (the
rubric judge, blind to the reference answer, or answer equivalence); the caller looks both up in the task
registry (`TaskGrading`), this module knows no task by name. The scores go to grades.jsonl, one row per item, written
once; items.jsonl is only read. An item whose grading hit an endpoint failure gets no row, so the next run
retries it; items that already have a row are skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autodata.llm.models import ModelCallFailed, ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.engine.rundir import CONFIG, ITEMS, RunDirectory, read_json, read_jsonl
from autodata.rules.answers import Outcome, check_answer
from autodata.rules.scoring import grade_rubric
from autodata.llm.settings import ConfigError
from autodata.state.context import RunContext
from autodata.state.schemas import RubricCriterion, SolverRole, TaskFamily

GRADES = "grades.jsonl"


class GradingError(ValueError):
    """The run cannot be graded (no items.jsonl, no task recorded, unknown task); the message says why."""


@dataclass(frozen=True)
class GradeOptions:
    weak_samples: int | None = None  # None: the run's (config.json), else the task's
    strong_samples: int | None = None
    concurrency: int = 4  # items graded at once


@dataclass(frozen=True)
class TaskGrading:
    """How one task's items are answered and scored: the task registry's family, solver prompt and sample counts
    (the same ones its generation run used)."""

    family: TaskFamily
    solver_prompt: str
    samples: tuple[int, int]  # (weak, strong), where neither the command nor the run's config.json says


@dataclass
class GradeResult:
    """What one `grade_run` did to one run directory."""

    path: Path
    items: int = 0
    graded: int = 0
    already_graded: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # item id -> the endpoint failure (retried next time)


def read_grades(run_path: str | Path) -> dict[str, dict[str, Any]]:
    """grades.jsonl of a run directory, by item id (the first row of an id wins); empty when never graded."""
    grades: dict[str, dict[str, Any]] = {}
    for row in read_jsonl(Path(run_path) / GRADES):
        grades.setdefault(str(row.get("item_id")), row)
    return grades


def final_items(run_path: Path) -> list[dict[str, Any]]:
    """items.jsonl's rows, each id once."""
    seen: set[str] = set()
    items = []
    for item in read_jsonl(run_path / ITEMS):
        if item.get("id") not in seen:
            seen.add(item.get("id"))
            items.append(item)
    return items


def run_task(run_path: Path) -> str:
    """The task a run directory's items belong to: config.json's, else its first item's."""
    config = read_json(run_path / CONFIG)
    first = next(read_jsonl(run_path / ITEMS), {})
    task = (config.get("context") or {}).get("task") or config.get("task") or first.get("task")
    if not task:
        raise GradingError(f"{run_path}: cannot grade this run (neither config.json nor its items name a task)")
    return str(task)


def grading_context(run_path: Path, options: GradeOptions, grading: TaskGrading) -> RunContext:
    """The run's context (task, prompt override) with the family and the sample counts this grading uses."""
    config = read_json(run_path / CONFIG)
    context = {**(config.get("context") or {}), "task": run_task(run_path), "family": grading.family.value}
    for role, task_default in zip(("weak", "strong"), grading.samples, strict=True):
        chosen = getattr(options, f"{role}_samples")
        context[f"{role}_samples"] = chosen or context.get(f"{role}_samples") or task_default
    try:
        return RunContext.model_validate(context)
    except ValueError as exc:
        raise GradingError(f"{run_path}: cannot grade this run ({exc})") from None


@dataclass(frozen=True)
class Grader:
    """Grades one item: fresh samples from both solvers, each scored the way the run's task scores answers."""

    provider: ModelProvider
    prompts: PromptLibrary
    ctx: RunContext
    grading: TaskGrading

    @property
    def family(self) -> TaskFamily:
        return self.grading.family

    async def answer(self, role: SolverRole, item: dict[str, Any], sample: int) -> str | None:
        messages = self.prompts.messages(
            self.grading.solver_prompt, question=item["question"], context=item.get("context", ""),
            reasoning=self.provider.config(role).reasoning,
        )  # fmt: skip
        metadata = {"task": self.ctx.task, "item_id": item["id"], "sample": sample, "stage": "grade"}
        result = await self.provider.text(role, messages, metadata=metadata)
        result.raise_if_endpoint_failed()  # no answer is not a wrong answer: the item is retried instead
        return (result.value or "") if result.ok else None

    async def score(self, item: dict[str, Any], answer: str | None, sample: int) -> float | None:
        if answer is None:
            return None
        if self.family is TaskFamily.VERIFIABLE:
            verdict = check_answer(answer, item.get("reference_answer", ""))
            return 1.0 if verdict.outcome is Outcome.CORRECT else 0.0  # undecided scores 0, as in training
        grade = await grade_rubric(
            self.provider, self.prompts, question=item["question"], context=item.get("context", ""), answer=answer,
            rubric=[RubricCriterion.model_validate(c) for c in item.get("rubric") or []],
            metadata={"task": self.ctx.task, "item_id": item["id"], "sample": sample, "stage": "grade"},
        )  # fmt: skip
        if grade.endpoint_failure is not None:
            raise grade.endpoint_failure
        return grade.score

    async def sample(self, role: SolverRole, item: dict[str, Any], index: int) -> float | None:
        return await self.score(item, await self.answer(role, item, index), index)

    async def grade(self, item: dict[str, Any]) -> dict[str, Any]:
        weak_n, strong_n = self.ctx.samples_for("weak"), self.ctx.samples_for("strong")
        calls = [self.sample("weak", item, i) for i in range(weak_n)]
        calls += [self.sample("strong", item, i) for i in range(strong_n)]
        # Every sample runs to its end before a failure is raised, so no call is left running unwatched.
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        raise_first_failure(outcomes)
        return grade_row(item, outcomes[:weak_n], outcomes[weak_n:], self.models())

    def models(self) -> dict[str, str]:
        scorer = {"judge": self.provider.model_name("judge")} if self.family is TaskFamily.RUBRIC else {
            "verifier": "answer equivalence"}  # fmt: skip
        return {"weak": self.provider.model_name("weak"), "strong": self.provider.model_name("strong"), **scorer}


def raise_first_failure(outcomes: list[Any]) -> None:
    """Raise the first exception among `outcomes`, a ConfigError (a misconfigured endpoint) before any other."""
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise next((error for error in errors if isinstance(error, ConfigError)), errors[0])


def _average(scores: list[float | None]) -> float | None:
    values = [s for s in scores if s is not None]
    return sum(values) / len(values) if values else None


def grade_row(item: dict[str, Any], weak: list[float | None], strong: list[float | None], models: dict[str, str],
              ) -> dict[str, Any]:  # fmt: skip
    """grades.jsonl row; a sample the judge could not score (malformed verdict after re-asks) is null."""
    weak_avg, strong_avg = _average(weak), _average(strong)
    return {
        "item_id": item["id"],
        "task": item.get("task"),
        "method": item.get("method"),
        "weak_scores": weak,
        "strong_scores": strong,
        "weak_avg": weak_avg,
        "strong_avg": strong_avg,
        "gap": None if weak_avg is None or strong_avg is None else strong_avg - weak_avg,
        "unscored": sum(1 for s in [*weak, *strong] if s is None),
        "models": models,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def append_grade(run_dir: RunDirectory, row: dict[str, Any]) -> None:
    with run_dir.file(GRADES).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def cut_torn_line(path: Path) -> None:
    """A crash mid-write can leave an unterminated last row: cut it before appending again."""
    if path.exists() and path.stat().st_size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            with path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)


async def grade_run(
    run_dir: RunDirectory,
    provider: ModelProvider,
    options: GradeOptions,
    grading: TaskGrading,
    on_item_done: Callable[[str, str], None] | None = None,
) -> GradeResult:
    """Grade every item of `run_dir` that has no grades.jsonl row yet, the way `grading` says its task's items are
    answered and scored (the caller holds the directory's lock and looked the run's task up: `run_task`)."""
    path = run_dir.path
    if not (path / ITEMS).exists():
        raise GradingError(f"{path} has no {ITEMS}: nothing to grade")
    ctx = grading_context(path, options, grading)
    grader = Grader(provider, PromptLibrary(ctx.prompts_dir), ctx, grading)
    cut_torn_line(run_dir.file(GRADES))
    done = read_grades(path)
    items = final_items(path)
    result = GradeResult(path=path, items=len(items), already_graded=sum(1 for i in items if i["id"] in done))
    limit = asyncio.Semaphore(options.concurrency)

    async def grade_one(item: dict[str, Any]) -> None:
        async with limit:
            try:
                row = await grader.grade(item)
            except ModelCallFailed as exc:
                result.failed[item["id"]] = str(exc)
                outcome = "endpoint failure"
            else:
                append_grade(run_dir, row)
                result.graded += 1
                outcome = "graded"
        if on_item_done is not None:
            on_item_done(item["id"], outcome)

    await asyncio.gather(*(grade_one(item) for item in items if item["id"] not in done))
    return result

"""Fresh grading of a run's final items (METHOD.md section 7): new weak and strong samples, the same judge.

An accepted round's in-loop scores were selected to pass, so they are biased upward, while a baseline's are not;
grading every method's final items afresh puts them on equal footing. Each item of items.jsonl is answered by
the weak and the strong solver through its task's solver prompt and scored the way its task scores answers (the
rubric judge, blind to the reference answer, or answer equivalence); the caller looks both up in the task
registry (`TaskGrading`), this module knows no task by name. The scores go to grades.jsonl, one row per item, written
once; items.jsonl is only read. An item whose grading hit an endpoint failure gets no row, so the next run
retries it; items that already have a row are skipped.

Like for like: every run graded together gets the same sample counts (the command's, else the task's; never
what each run happened to use in its loop), and each row records them. A run already graded with other counts
is refused rather than mixed. A verifiable answer is checked the way the loop checks it
(`rules.scoring.check_final_answer`): the answer checker where it decides, the binary judge against the
reference where it cannot (a phrase the loop accepted is not failed by a string match here); each row counts
which of them decided.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autodata.llm.models import ModelCallFailed, ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.engine.rundir import CONFIG, ITEMS, RunDirectory, append_jsonl, read_json, read_jsonl
from autodata.rules.answers import extract_final_answer
from autodata.rules.scoring import check_final_answer, grade_rubric
from autodata.llm.settings import ConfigError
from autodata.state.context import RunContext
from autodata.state.schemas import RubricCriterion, SolverRole, TaskFamily

GRADES = "grades.jsonl"


class GradingError(ValueError):
    """The run cannot be graded (no items.jsonl, no task recorded, unknown task); the message says why."""


@dataclass(frozen=True)
class GradeOptions:
    weak_samples: int | None = None  # None: the task's, for every run graded together
    strong_samples: int | None = None
    concurrency: int = 4  # items graded at once


@dataclass(frozen=True)
class TaskGrading:
    """How one task's items are answered and scored: the task registry's family, solver prompt and sample counts
    (the same ones its generation run used)."""

    family: TaskFamily
    solver_prompt: str
    samples: tuple[int, int]  # (weak, strong), where the command says none


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


def grading_samples(options: GradeOptions, grading: TaskGrading) -> dict[str, Any]:
    """The sample counts of this grading, the same for every run graded with these options, and who chose them."""
    weak = options.weak_samples or grading.samples[0]
    strong = options.strong_samples or grading.samples[1]
    chosen = "option" if options.weak_samples or options.strong_samples else "task default"
    return {"weak": weak, "strong": strong, "chosen_by": chosen}


def grading_context(run_path: Path, options: GradeOptions, grading: TaskGrading) -> RunContext:
    """The run's context (task, prompt override) with the family and this grading's sample counts (not the
    counts the run used in its loop: a grading compares runs, so they all get the same)."""
    config = read_json(run_path / CONFIG)
    context = {**(config.get("context") or {}), "task": run_task(run_path), "family": grading.family.value}
    samples = grading_samples(options, grading)
    context.update(weak_samples=samples["weak"], strong_samples=samples["strong"])
    try:
        return RunContext.model_validate(context)
    except ValueError as exc:
        raise GradingError(f"{run_path}: cannot grade this run ({exc})") from None


@dataclass(frozen=True)
class Scored:
    """One fresh sample's score (None: unscored) and what decided it (judge, math_verify, exact_match, ...)."""

    score: float | None
    decided_by: str


@dataclass(frozen=True)
class Grader:
    """Grades one item: fresh samples from both solvers, each scored the way the run's task scores answers."""

    provider: ModelProvider
    prompts: PromptLibrary
    ctx: RunContext
    grading: TaskGrading
    chosen_by: str = "task default"  # who set the sample counts: "option" or "task default"

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

    async def score(self, item: dict[str, Any], answer: str | None, sample: int) -> Scored:
        if answer is None:
            return Scored(None, "unscored")
        metadata = {"task": self.ctx.task, "item_id": item["id"], "sample": sample, "stage": "grade"}
        if self.family is TaskFamily.VERIFIABLE:
            verdict = await check_final_answer(
                self.provider, self.prompts, question=item["question"], answer=extract_final_answer(answer),
                reference=item.get("reference_answer", ""), metadata=metadata,
            )  # fmt: skip
            if verdict.failure is not None:
                raise verdict.failure
            return Scored(None if verdict.correct is None else float(verdict.correct), verdict.decided_by)
        grade = await grade_rubric(
            self.provider, self.prompts, question=item["question"], context=item.get("context", ""), answer=answer,
            rubric=[RubricCriterion.model_validate(c) for c in item.get("rubric") or []], metadata=metadata,
        )  # fmt: skip
        if grade.endpoint_failure is not None:
            raise grade.endpoint_failure
        return Scored(grade.score, "judge" if grade.score is not None else "unscored")

    async def sample(self, role: SolverRole, item: dict[str, Any], index: int) -> Scored:
        return await self.score(item, await self.answer(role, item, index), index)

    async def grade(self, item: dict[str, Any]) -> dict[str, Any]:
        weak_n, strong_n = self.ctx.samples_for("weak"), self.ctx.samples_for("strong")
        calls = [self.sample("weak", item, i) for i in range(weak_n)]
        calls += [self.sample("strong", item, i) for i in range(strong_n)]
        # Every sample runs to its end before a failure is raised, so no call is left running unwatched.
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        raise_first_failure(outcomes)
        row = grade_row(item, [o.score for o in outcomes[:weak_n]], [o.score for o in outcomes[weak_n:]], self.models())
        deciders = Counter(outcome.decided_by for outcome in outcomes)
        samples = {"weak": weak_n, "strong": strong_n, "chosen_by": self.chosen_by}
        return {**row, "samples": samples, "decided_by": dict(sorted(deciders.items()))}

    def models(self) -> dict[str, str]:
        judge = self.provider.model_name("judge")
        # Verifiable answers: the checker decides where it can, the judge where the checker cannot.
        scorer = {"judge": judge} if self.family is TaskFamily.RUBRIC else {
            "verifier": "answer checker", "judge": judge}  # fmt: skip
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


def refuse_mixed_counts(path: Path, done: dict[str, dict[str, Any]], ctx: RunContext) -> None:
    """Rows graded earlier with other sample counts would mix two gradings in one table: refuse."""
    wanted = (ctx.samples_for("weak"), ctx.samples_for("strong"))
    for row in done.values():
        samples = row.get("samples")
        if samples and (samples.get("weak"), samples.get("strong")) != wanted:
            raise GradingError(
                f"{path}: {GRADES} was graded with {samples.get('weak')} + {samples.get('strong')} samples, this "
                f"grading uses {wanted[0]} + {wanted[1]}; pass the same counts, or move {GRADES} aside to regrade"
            )


def append_grade(run_dir: RunDirectory, row: dict[str, Any]) -> None:
    append_jsonl(run_dir.file(GRADES), row)


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
    chosen_by = grading_samples(options, grading)["chosen_by"]
    grader = Grader(provider, PromptLibrary(ctx.prompts_dir), ctx, grading, chosen_by)
    cut_torn_line(run_dir.file(GRADES))
    done = read_grades(path)
    refuse_mixed_counts(path, done, ctx)
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

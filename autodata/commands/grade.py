"""`autodata grade`: re-grade the final items of runs with fresh weak and strong samples (grades.jsonl)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from autodata.llm import models
from autodata.commands.support import (
    EXIT_2_ERRORS,
    EXIT_OK,
    EXIT_PARTIAL,
    ConfigOption,
    claim_run_directory,
    console,
    exit_with_error,
    fail,
    progress_disabled,
)
from autodata.llm.embedded import stop_embedded_server
from autodata.engine.grading import GRADES, GradeOptions, GradeResult, GradingError, TaskGrading, grade_run, run_task
from autodata.llm.settings import load_settings
from autodata.tasks import task_samples, task_sections, task_spec


def task_grading(run_path: Path) -> TaskGrading:
    """How the run's task answers and scores its items: the solver prompt and sample counts its generation used."""
    spec = task_spec(run_task(run_path))
    return TaskGrading(family=spec.family, solver_prompt=spec.solver_prompt, samples=spec.samples)


async def _grade_all(run_dirs: list[Path], provider: models.ModelProvider, options: GradeOptions) -> list[GradeResult]:
    # One event loop for every run: the chat models' HTTP clients belong to the loop that first used them.
    results = []
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=progress_disabled()) as progress:
        for path in run_dirs:
            with claim_run_directory(path, {}) as run_dir:
                bar = progress.add_task(f"grade {path.name}", total=None)

                def done(item_id: str, outcome: str, bar: int = bar) -> None:
                    progress.update(bar, advance=1)

                grading = task_grading(path)
                results.append(await grade_run(run_dir, provider, options, grading, on_item_done=done))
    return results


def _print_result(result: GradeResult) -> None:
    failed = f", [red]{len(result.failed)} failed[/] (endpoint; retried next time)" if result.failed else ""
    console.print(f"[bold]{result.path.name}[/]: {result.graded} item(s) graded, {result.already_graded} already "
                  f"graded, of {result.items}{failed} -> {result.path / GRADES}")  # fmt: skip
    for item_id, error in list(result.failed.items())[:5]:
        console.print(f"  [dim]{item_id}: {error}[/]", soft_wrap=True)


def grade(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (agentic or baseline) whose items to grade.")],
    weak_samples: Annotated[
        int | None, typer.Option("--weak-samples", min=1, help="Fresh weak-solver answers per item, the same for "
                                 "every run graded (default: the run's, else its task's weak + strong: "
                                 f"{task_samples()}).")
    ] = None,
    strong_samples: Annotated[
        int | None, typer.Option("--strong-samples", min=1, help="Fresh strong-solver answers per item, the same "
                                 "for every run graded (default: the run's, else its task's).")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Items graded at once.")] = 4,
    config: ConfigOption = None,
) -> None:
    """Re-grade the final items of runs with fresh weak and strong samples and the same judge (fair comparison).

    In-loop scores of an accepted round were selected to pass, so they are biased upward; a baseline's are not.
    This answers every item of items.jsonl again with both solvers, through the solver prompt of the run's task
    (the one its generation used), scores the answers with the rubric judge (verifiable answers: the answer
    checker, and the same binary judge as the loop where the checker cannot decide), and appends one row per
    item to grades.jsonl (items.jsonl is not changed). Every run graded gets the same sample counts (the
    options, else the task's, whatever each run used in its loop); each row records them and what decided
    each score, and a run graded before with other counts is refused (exit 2). Re-running skips graded items; an
    item whose grading hit an endpoint failure is not written and is retried next time (exit 3). `autodata
    report` then shows the fresh-graded Table 1.
    """
    missing = [path for path in run_dirs if not path.is_dir()]
    if missing:
        exit_with_error(f"run directory not found: {missing[0]}")
    options = GradeOptions(weak_samples=weak_samples, strong_samples=strong_samples, concurrency=concurrency)
    try:
        # Looked up on the module when the command runs, so a scripted provider can stand in for it.
        provider = models.ModelProvider(load_settings(config, sections=task_sections()))
        results = asyncio.run(_grade_all(run_dirs, provider, options))
    except (GradingError, *EXIT_2_ERRORS) as exc:
        fail(exc)
    finally:
        stop_embedded_server()
    for result in results:
        _print_result(result)
    raise typer.Exit(EXIT_PARTIAL if any(result.failed for result in results) else EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("grade")(grade)

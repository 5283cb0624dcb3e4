"""`autodata report` (compare runs, HTML + PNG) and `autodata annotate` (question-type taxonomy of a run)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from autodata.report.annotate import AnnotateError, AnnotateOptions, annotate_run
from autodata.commands.support import (
    STORAGE_ERRORS,
    ConfigOption,
    console,
    exit_with_error,
    fail,
    set_up_provider,
)
from autodata.llm.embedded import stop_embedded_server
from autodata.report.tables import (
    FRESH,
    MAIN_COLUMNS,
    REVIEW_COLUMNS,
    TABLE1_COLUMNS,
    Report,
    ReportError,
    build_report,
    main_row,
    review_cells,
    table1_cells,
    table1_note,
)
from autodata.tasks import report_sections
from autodata.engine.rundir import RunDirectoryError, hold_lock
from autodata.state.schemas import ROLES

RoleOption = Annotated[
    str, typer.Option("--role", help=f"Model role that annotates: one of {', '.join(ROLES)}.")
]


def main_table(report: Report) -> Table:
    """Runs as columns, metrics as rows: a terminal fits a few runs side by side, not twelve metrics."""
    table = Table(title="Autodata report: weak vs strong per run", title_justify="left")
    table.add_column("", no_wrap=True)
    rows = [main_row(summary) for summary in report.summaries]
    for row in rows:
        table.add_column(row[0], justify="right", overflow="fold")
    for index, metric in enumerate(MAIN_COLUMNS[1:], start=1):
        table.add_row(metric, *(row[index] for row in rows))
    return table


def table1_table(report: Report) -> Table:
    """The paper's Table 1 columns, one run per row, titled with the scores it shows."""
    table = Table(title=f"Table 1: {table1_note(report.table1)}", title_justify="left")
    for column in TABLE1_COLUMNS:
        table.add_column(column, justify="left" if column in ("run", "method", "scores") else "right")
    for row in report.table1:
        table.add_row(*table1_cells(row))
    return table


def review_table(report: Report) -> Table:
    """What the runs' reviewers decided (generate --review)."""
    table = Table(title="Review", title_justify="left")
    for column in REVIEW_COLUMNS:
        table.add_column(column, justify="right" if column in ("approved", "edited", "rejected") else "left")
    for row in report.reviews:
        table.add_row(*review_cells(row))
    return table


def print_tables(report: Report) -> None:
    """The main table; Table 1 too once `autodata grade` has run; what --match-count sampled."""
    for matched in report.matched or []:
        console.print(f"[bold]--match-count[/] {matched.note()}", soft_wrap=True)
    if report.matched == []:
        console.print("--match-count: no task has two runs, nothing was sampled.")
    Console().print(main_table(report))
    if any(row.scores == FRESH for row in report.table1):
        Console().print(table1_table(report))
    if report.reviews:
        Console().print(review_table(report))
    for section in report_sections():  # each task's own tables, none without its runs
        for table in section.tables(report):
            Console().print(table)


def _check_role(role: str) -> None:
    if role not in ROLES:
        exit_with_error(f"unknown role {role!r}; roles are {', '.join(ROLES)}")


def _annotate_runs(run_dirs: list[Path], options: AnnotateOptions, config: Path | None) -> list[str]:
    """Annotate each run; returns the failures (a run that cannot be annotated does not stop the others)."""
    problems = []

    async def annotate_all() -> None:
        # One event loop for every run: the chat models' HTTP clients belong to the loop that first used them.
        for run_dir in run_dirs:
            try:
                # annotations.json is written into the run directory: one writer at a time.
                with hold_lock(run_dir) if run_dir.is_dir() else contextlib.nullcontext():
                    annotation = await annotate_run(run_dir, provider, options)
            except (AnnotateError, RunDirectoryError, OSError) as exc:
                problems.append(f"{run_dir}: {exc}")
                continue
            failures = annotation.as_dict()["failures"]
            console.print(
                f"[bold]{run_dir.name}[/]: {len(annotation.types)} question types, "
                f"{sum(1 for v in annotation.assignments.values() if v)} of {len(annotation.assignments)} items "
                f"classified; {failures['classify_parse']} parse failure(s), {failures['classify_call']} failed "
                f"call(s), {failures['discover']} failed discovery call(s)"
            )

    try:
        provider = set_up_provider(config)
        asyncio.run(annotate_all())
    finally:
        stop_embedded_server()
    return problems


def annotate(
    run_dir: Annotated[Path, typer.Argument(help="Run directory whose items.jsonl to annotate.")],
    role: RoleOption = "orchestrator",
    sample_size: Annotated[int, typer.Option(
        "--sample", min=1, help="Items shown in the discovery phase, stratified by challenge score (the method: ~200; "
        "a run with fewer items shows them all), 8 per discovery call."
    )] = 200,
    strata: Annotated[int, typer.Option("--strata", min=1, help="Challenge-score strata of the sample.")] = 3,
    max_types: Annotated[int, typer.Option("--max-types", min=2, help="Most types after consolidation.")] = 8,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Model calls at once.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the stratified sample.")] = 0,
    config: ConfigOption = None,
) -> None:
    """Build a question-type taxonomy of a run's items and classify every item (writes annotations.json).

    Phase 1 discovers types from a sample stratified by challenge score (strong minus weak average) and
    consolidates them into a small non-overlapping set; phase 2 puts every item into exactly one type.
    Parse failures are counted and the items left unclassified.
    """
    _check_role(role)
    options = AnnotateOptions(role=role, sample_size=sample_size, strata=strata, max_types=max_types,
                              concurrency=concurrency, seed=seed)  # fmt: skip
    problems = _annotate_runs([run_dir], options, config)
    if problems:
        exit_with_error(problems[0])


def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (agentic and baseline) to report on.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for report.html and the PNG plots (default: "
                                  "a `report` folder next to the first run directory).")
    ] = None,
    eval_files: Annotated[
        list[Path] | None, typer.Option("--eval", help="`autodata eval` JSON result; give two for before/after.")
    ] = None,
    annotate_first: Annotated[
        bool, typer.Option("--annotate", help="Run `autodata annotate` on every run first (uses a model).")
    ] = False,
    match_count: Annotated[
        bool, typer.Option("--match-count", help="Compare the runs of a task on sets sampled to the same size: "
                           "the larger sets are sampled (deterministically, --match-seed) down to the smallest.")
    ] = False,
    match_seed: Annotated[int, typer.Option("--match-seed", help="Seed of the --match-count sample.")] = 0,
    role: RoleOption = "orchestrator",
    config: ConfigOption = None,
) -> None:
    """Compare runs: weak/strong averages and gap, policy fraction, rounds, rejections, cost, plots (HTML + PNG)."""
    if annotate_first:
        _check_role(role)
        for problem in _annotate_runs(run_dirs, AnnotateOptions(role=role), config):
            console.print(f"[yellow]annotation skipped:[/] {problem}")
    from autodata.report.html import write_report  # matplotlib: loaded only when a report is drawn

    try:
        built = build_report(run_dirs, eval_files, match_count=match_count, match_seed=match_seed)
        target = write_report(built, out or run_dirs[0].resolve().parent / "report", report_sections())
    except (ReportError, *STORAGE_ERRORS) as exc:
        fail(exc)
    print_tables(built)
    console.print(f"report: [cyan]{target.resolve()}[/] (PNG plots alongside)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("annotate")(annotate)

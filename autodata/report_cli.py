"""`autodata baseline`, `autodata report` and `autodata annotate`, registered on the main app by `register(app)`.

Helpers of `autodata.cli` are imported inside the commands, never at module level: `autodata.cli` imports
this module while it is itself being imported.
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from autodata.annotate import AnnotateError, AnnotateOptions, annotate_run
from autodata.report import MAIN_COLUMNS, Report, ReportError, build_report, main_row
from autodata.state.schemas import ROLES

console = Console(stderr=True)


class BaselineMethod(str, Enum):
    COT_SELF_INSTRUCT = "cot-self-instruct"
    SELF_INSTRUCT = "self-instruct"


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="autodata.toml with per-role models and endpoints (default: ./autodata.toml)."),
]
RoleOption = Annotated[
    str, typer.Option("--role", help=f"Model role that annotates: one of {', '.join(ROLES)}.")
]


def baseline(
    method: Annotated[BaselineMethod, typer.Option("--method", help="Which classical method to run.")],
    task: Annotated[str, typer.Option("--task", help="cs-research, legal (rubric) or science (verifiable).")],
    sources: Annotated[
        Path, typer.Option("--sources", help="A folder of .md/.txt documents, one such file, or a JSONL of problems.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created if missing).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use at most N documents.")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Answers per solver when scoring (k).")] = 4,
    consistency_samples: Annotated[
        int, typer.Option("--consistency-samples", min=1, help="CoT-Self-Instruct, verifiable tasks: strong-solver "
                          "samples whose majority answer must agree with the generated answer (K).")
    ] = 4,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Documents processed at once.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Picks the span of long documents; part of item ids.")] = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Directory of prompt files overriding the shipped prompts/.")
    ] = None,
    config: ConfigOption = None,
    force_mixed: Annotated[
        bool,
        typer.Option("--force-mixed", help="Resume a run directory made with other settings anyway; config.json "
                     "keeps the earlier settings under `history`."),
    ] = False,
) -> None:
    """Run a baseline (CoT-Self-Instruct or Self-Instruct) on the same sources as `generate`.

    One item per document, no feedback loop; each item is scored once by the same weak and strong solvers and
    judge as the agentic loop, so `autodata report` can compare the runs. Same run-directory format and
    exit codes as `generate`.
    """
    from autodata import cli
    from autodata.baseline import BaselineOptions, BaselineRunner
    from autodata.corpus import iter_documents
    from autodata.embedded import stop_embedded_server
    from autodata.models import ModelProvider, set_provider
    from autodata.settings import load_settings
    from autodata.summary import print_summary
    from autodata.tasks import task_spec

    try:
        with cli.claim_run_directory(out, {"--sources": sources}) as run_dir:
            settings = load_settings(config)
            options = BaselineOptions(
                task=task_spec(task).name, samples=samples, max_rounds=1, seed=seed, concurrency=concurrency,
                prompts_dir=str(prompts) if prompts else None, policy_overrides=settings.policy, run_id=out.name,
                method=method.value, consistency_samples=consistency_samples, allow_mixed=force_mixed,
            )  # fmt: skip
            documents = iter_documents(sources, settings.max_source_chars, seed)
            provider = ModelProvider(settings)
            set_provider(provider)
            runner = BaselineRunner(options, provider, run_dir)
            stats = asyncio.run(cli._run_with_progress(runner, documents, limit, sources))
    except cli.EXIT_2_ERRORS as exc:
        cli.fail(exc)
    finally:
        stop_embedded_server()
    print_summary(console, [(stats, run_dir)])
    extras = stats.as_dict()
    console.print(
        f"[bold]{method.value}[/]: {extras['kept']} item(s) kept, {extras['meets_policy']} meet the acceptance "
        f"policy, {extras['dropped_inconsistent']} dropped by the answer-consistency filter, "
        f"{extras['no_item']} document(s) without an item"
    )
    raise typer.Exit(cli._exit_code([(stats, run_dir)]))


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


def _provider(config: Path | None):
    from autodata.models import ModelProvider, set_provider
    from autodata.settings import load_settings

    provider = ModelProvider(load_settings(config))
    set_provider(provider)
    return provider


def _check_role(role: str) -> None:
    if role not in ROLES:
        console.print(f"[bold red]error:[/] unknown role {role!r}; roles are {', '.join(ROLES)}")
        raise typer.Exit(2)


def _annotate_runs(run_dirs: list[Path], options: AnnotateOptions, config: Path | None) -> list[str]:
    """Annotate each run; returns the failures (a run that cannot be annotated does not stop the others)."""
    from autodata.embedded import stop_embedded_server
    from autodata.rundir import RunDirectoryError, hold_lock

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
        provider = _provider(config)
        asyncio.run(annotate_all())
    finally:
        stop_embedded_server()
    return problems


def annotate(
    run_dir: Annotated[Path, typer.Argument(help="Run directory whose items.jsonl to annotate.")],
    role: RoleOption = "orchestrator",
    sample_size: Annotated[int, typer.Option("--sample", min=1, help="Items shown in the discovery phase.")] = 24,
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
        console.print(f"[bold red]error:[/] {problems[0]}")
        raise typer.Exit(2)


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
    role: RoleOption = "orchestrator",
    config: ConfigOption = None,
) -> None:
    """Compare runs: weak/strong averages and gap, policy fraction, rounds, rejections, cost, plots (HTML + PNG)."""
    if annotate_first:
        _check_role(role)
        for problem in _annotate_runs(run_dirs, AnnotateOptions(role=role), config):
            console.print(f"[yellow]annotation skipped:[/] {problem}")
    from autodata import cli
    from autodata.report_html import write_report

    try:
        built = build_report(run_dirs, eval_files)
        target = write_report(built, out or run_dirs[0].resolve().parent / "report")
    except (ReportError, *cli.STORAGE_ERRORS) as exc:
        cli.fail(exc)
    Console().print(main_table(built))
    console.print(f"report: [cyan]{target.resolve()}[/] (PNG plots alongside)")


def register(app: typer.Typer) -> None:
    app.command("baseline")(baseline)
    app.command("report")(report)
    app.command("annotate")(annotate)

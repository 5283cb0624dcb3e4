"""`autodata`: the command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from autodata.corpus import JSONL_SUFFIXES, TEXT_SUFFIXES, SourcesError, iter_documents
from autodata.embedded import EmbeddedBackendError, stop_embedded_server
from autodata.models import (
    EndpointUnreachableError,
    ModelProvider,
    check_endpoints,
    set_provider,
)
from autodata.prompt_library import PromptError
from autodata.resources import package_dir
from autodata.rundir import RunDirectory, RunDirectoryError, check_outside_inputs
from autodata.runner import GenerateOptions, Generator, RunStats
from autodata.settings import ConfigError, Settings, load_settings
from autodata.summary import print_summary
from autodata.tasks import TASKS, UnknownTaskError, task_spec

app = typer.Typer(
    name="autodata",
    help="Agentic Self-Instruct: turn source documents into difficulty-calibrated training and evaluation data.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 3, 2
DEFAULT_DEMO_CONFIG = package_dir("autodata.configs") / "embedded-demo.toml"

TaskOption = Annotated[
    str,
    typer.Option(
        "--task",
        help=f"What to generate: {'; '.join(f'[bold]{t.name}[/] ({t.description})' for t in TASKS.values())}",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        from autodata import __version__

        typer.echo(f"autodata {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Agentic Self-Instruct: turn source documents into difficulty-calibrated training and evaluation data."""


def _count_documents(sources: Path) -> int | None:
    """Cheap total for the progress bar: documents in a folder, or lines of a JSONL file."""
    if not sources.exists():
        return None
    files = [sources] if sources.is_file() else [
        p for p in sources.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES
    ]
    total = 0
    for path in files:
        if path.suffix.lower() in JSONL_SUFFIXES:
            with path.open("rb") as fh:
                total += sum(1 for line in fh if line.strip())
        else:
            total += 1
    return total


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="autodata.toml with per-role models and endpoints (default: ./autodata.toml)."),
]
RoundsOption = Annotated[int, typer.Option("--rounds", min=1, help="Round budget per document.")]
SamplesOption = Annotated[int, typer.Option("--samples", min=1, help="Answers per solver per round (k).")]
STARTUP_ERRORS = (
    UnknownTaskError, ConfigError, SourcesError, PromptError, EmbeddedBackendError, EndpointUnreachableError,
)  # fmt: skip
# Errors of the disk or the checkpoint database: not a bug of ours, so one line and exit 2, never a traceback.
STORAGE_ERRORS = (OSError, sqlite3.Error)
# Everything a command reports as "error: <one line>" with exit 2.
EXIT_2_ERRORS = (*STARTUP_ERRORS, RunDirectoryError, *STORAGE_ERRORS)
ForceMixedOption = Annotated[
    bool,
    typer.Option("--force-mixed", help="Resume a run directory made with other settings (task, samples, rounds, "
                 "policy, prompts, seed) anyway; config.json keeps the earlier settings under `history`."),
]


def error_line(exc: BaseException) -> str:
    """What stopped the command, in one line."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where} (once fixed, run the same command again to resume)"
    if isinstance(exc, sqlite3.Error):
        return f"checkpoint database: {exc} (once fixed, run the same command again to resume)"
    return str(exc)


def fail(exc: BaseException) -> NoReturn:
    """Print `error: <one line>` (never wrapped, never read as markup) and exit 2."""
    console.print(f"[bold red]error:[/] {escape(error_line(exc))}", soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


@contextlib.contextmanager
def claim_run_directory(out: Path, inputs: dict[str, Path]):
    """Check `out` is not inside an input folder, create it and hold its lock for the whole block."""
    check_outside_inputs(out, inputs)
    run_dir = RunDirectory(out)
    with run_dir.lock():
        yield run_dir


@dataclass
class GenerateJob:
    task: str
    sources: Path
    out: Path
    limit: int | None = None
    rounds: int = 3
    samples: int = 4
    concurrency: int = 1
    seed: int = 0
    prompts: Path | None = None
    server: str | None = None
    force_mixed: bool = False


async def _run_with_progress(generator: Generator, documents, limit: int | None, sources: Path) -> RunStats:
    total = _count_documents(sources)
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("accepted {task.fields[accepted]}  last: {task.fields[last]}"),
    ]  # fmt: skip
    with Progress(*columns, console=console, disable=os.environ.get("AUTODATA_NO_PROGRESS") == "1") as progress:
        bar = progress.add_task(generator.options.task, total=total, accepted=0, last="")

        def done(doc_id: str, outcome: str) -> None:
            accepted = progress.tasks[0].fields["accepted"] + (outcome == "accepted")
            progress.update(bar, advance=1, accepted=accepted, last=f"{doc_id[:40]} {outcome}")

        generator.on_document_done = done
        models = generator.models
        console.print(f"[dim]task {generator.options.task}: {models['challenger']} (challenger), "
                      f"{models['weak']} (weak), {models['strong']} (strong), {models['judge']} (judge)[/]")
        return await generator.run(documents, limit=limit)


async def _run_job(job: GenerateJob, settings: Settings, provider: ModelProvider) -> tuple[RunStats, RunDirectory]:
    spec = task_spec(job.task)
    options = GenerateOptions(
        task=spec.name, samples=job.samples, max_rounds=job.rounds, seed=job.seed, concurrency=job.concurrency,
        prompts_dir=str(job.prompts) if job.prompts else None, policy_overrides=settings.policy, run_id=job.out.name,
        allow_mixed=job.force_mixed,
    )  # fmt: skip
    documents = iter_documents(job.sources, settings.max_source_chars, job.seed)
    run_dir = RunDirectory(job.out)
    invoker = None
    if job.server:
        from autodata.remote import remote_invoker

        invoker = remote_invoker(job.server)
    generator = Generator(options, provider, run_dir, invoke=invoker)
    return await _run_with_progress(generator, documents, job.limit, job.sources), run_dir


async def _run_jobs_in_one_loop(jobs: list[GenerateJob], settings: Settings, provider: ModelProvider):
    # One event loop for every job: the chat models' HTTP clients belong to the loop they were first used in.
    return [await _run_job(job, settings, provider) for job in jobs]


def _run_jobs(
    jobs: list[GenerateJob], config: Path | None, max_requests: int | None = None
) -> list[tuple[RunStats, RunDirectory]]:
    """Run jobs in order with one model provider (so one embedded server); exit 2 when a run cannot start or its
    run directory cannot be written. Every job's run directory is locked first, so a busy one is refused at once."""
    try:
        with contextlib.ExitStack() as claims:
            for job in jobs:
                claims.enter_context(claim_run_directory(job.out, {"--sources": job.sources}))
            settings = load_settings(config).with_request_limit(max_requests)
            if not any(job.server for job in jobs):  # with --server the models are the server's business
                check_endpoints(settings)
            provider = ModelProvider(settings)
            set_provider(provider)
            return asyncio.run(_run_jobs_in_one_loop(jobs, settings, provider))
    except EXIT_2_ERRORS as exc:
        fail(exc)
    finally:
        stop_embedded_server()


def _exit_code(results: list[tuple[RunStats, RunDirectory]]) -> int:
    return EXIT_PARTIAL if any(stats.failed or stats.bad_input for stats, _ in results) else EXIT_OK


@app.command()
def generate(
    task: TaskOption,
    sources: Annotated[
        Path, typer.Option("--sources", help="A folder of .md/.txt documents, one such file, or a JSONL of problems.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created if missing).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use at most N documents.")] = None,
    rounds: RoundsOption = 3,
    samples: SamplesOption = 4,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Documents processed at once.")] = 1,
    max_requests: Annotated[
        int | None,
        typer.Option("--max-requests", min=1, help="Model requests in flight at once per endpoint (size it to your "
                     "server or rate limit); default: unbounded. With it, set --concurrency to about twice as many "
                     "documents so the endpoint always has work queued."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Picks the span of long documents; part of item ids.")] = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Directory of prompt files overriding the shipped prompts/.")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Submit one run per document to this LangGraph API server instead of "
                     "running the graph here (scale-out; see docs/scale-out.md)."),
    ] = None,
    config: ConfigOption = None,
    force_mixed: ForceMixedOption = False,
) -> None:
    """Generate items: challenger -> quality check -> weak/strong solvers -> judge -> accept or retry.

    Models come from autodata.toml and AUTODATA_* environment variables; with nothing configured every role
    uses the embedded SmolLM2-135M model on a local llama.cpp server. Re-running the same command resumes;
    one process at a time writes a run directory. Exit code 0: all documents processed; 3: some documents were
    bad input or failed (see errors.jsonl); 2: the run could not start or its directory could not be written
    (in use, other settings, inside --sources, disk full or read-only).
    """
    job = GenerateJob(task, sources, out, limit, rounds, samples, concurrency, seed, prompts, server, force_mixed)
    results = _run_jobs([job], config, max_requests)
    print_summary(console, results)
    raise typer.Exit(_exit_code(results))


DEMO_SOURCES = {"cs-research": "cs_papers", "legal": "legal", "science": "math_science/problems.jsonl"}


@app.command()
def demo(
    corpora: Annotated[Path, typer.Option("--corpora", help="The shared corpora folder.")] = Path("../shared/corpora"),
    out: Annotated[Path, typer.Option("--out", help="Parent of one run directory per task.")] = Path("runs/demo"),
    limit: Annotated[int, typer.Option("--limit", min=1, help="Documents per task.")] = 2,
    rounds: RoundsOption = 2,
    samples: SamplesOption = 2,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings for the demo (default: configs/embedded-demo.toml).")
    ] = None,
) -> None:
    """Run every task (cs-research, legal, science) on a few shared documents and print one summary."""
    jobs = [
        GenerateJob(task, corpora / folder, out / task, limit=limit, rounds=rounds, samples=samples)
        for task, folder in DEMO_SOURCES.items()
    ]
    results = _run_jobs(jobs, config or DEFAULT_DEMO_CONFIG)
    print_summary(console, results)
    raise typer.Exit(_exit_code(results))


def _register_commands() -> None:
    """Commands that live with the parts of the application they drive."""
    from autodata.optimize_cli import register as register_optimize
    from autodata.report_cli import register as register_report
    from autodata.training.cli import register as register_training

    register_report(app)
    register_optimize(app)
    register_training(app)


_register_commands()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Python's default SIGTERM handling skips `finally` blocks and atexit hooks; exiting through SystemExit
    # runs them, so the embedded server is stopped and files are closed.
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app()


if __name__ == "__main__":
    main()

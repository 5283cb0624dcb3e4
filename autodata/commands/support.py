"""What every command shares: the console, the exit codes, one-line error handling and the progress bar."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from autodata.engine.corpus import JSONL_SUFFIXES, TEXT_SUFFIXES, SourcesError
from autodata.llm.embedded import EmbeddedBackendError
from autodata.llm.models import EndpointUnreachableError, ModelProvider
from autodata.prompting.library import PromptError
from autodata.engine.rundir import RunDirectory, RunDirectoryError, check_outside_inputs
from autodata.engine.batch import BatchRunner
from autodata.engine.records import RunStats
from autodata.llm.rate_limits import describe as describe_limits
from autodata.llm.settings import ConfigError, load_settings
from autodata.tasks import UnknownTaskError, task_sections

console = Console(stderr=True)

# 2: the command could not start or could not write its output; 3: it ran, but some inputs failed.
EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_TERMINATED = 128 + 15  # SIGTERM (`exit_on_sigterm`)

STARTUP_ERRORS = (
    UnknownTaskError, ConfigError, SourcesError, PromptError, EmbeddedBackendError, EndpointUnreachableError,
)  # fmt: skip
# Errors of the disk or the checkpoint database: not a bug of ours, so one line and exit 2, never a traceback.
STORAGE_ERRORS = (OSError, sqlite3.Error)
# Everything a command reports as "error: <one line>" with exit 2.
EXIT_2_ERRORS = (*STARTUP_ERRORS, RunDirectoryError, *STORAGE_ERRORS)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="autodata.toml with per-role models and endpoints (default: ./autodata.toml)."),
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


def exit_with_error(message: object) -> NoReturn:
    """Print `error: <message>` as given (markup allowed) and exit 2."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(EXIT_ERROR)


def exit_code(results: Iterable[tuple[RunStats, RunDirectory]]) -> int:
    """A batch run's exit code: 4 when a budget stopped it early, 3 when any document was bad input or failed,
    else 0."""
    results = list(results)
    if any(stats.budget_stop for stats, _ in results):
        return EXIT_BUDGET
    return EXIT_PARTIAL if any(stats.failed or stats.bad_input for stats, _ in results) else EXIT_OK


def exit_interrupted(code: int) -> NoReturn:
    """Say that Ctrl-C or SIGTERM stopped the command and that re-running it resumes, then exit with `code`."""
    console.print("interrupted; run the same command to resume (what finished is in stats.json and dataset/)",
                  style="yellow", markup=False, soft_wrap=True)  # fmt: skip
    raise typer.Exit(code)


@contextlib.contextmanager
def interrupts_reported() -> Iterator[None]:
    """Ctrl-C (130) and SIGTERM (143) end the block with `exit_interrupted`'s line instead of a traceback."""
    try:
        yield
    except KeyboardInterrupt:
        exit_interrupted(EXIT_TERMINATED if terminated() else EXIT_INTERRUPTED)
    except SystemExit as exc:
        if exc.code == EXIT_TERMINATED:
            exit_interrupted(EXIT_TERMINATED)
        raise


_TERMINATED = threading.Event()


def terminated() -> bool:
    """Whether a SIGTERM (not Ctrl-C) is what interrupts the command: its exit code is 143, not 130."""
    return _TERMINATED.is_set()


def exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM takes Ctrl-C's path, remembered as a SIGTERM. Python's default SIGTERM handling skips `finally`
    blocks and atexit hooks, so the embedded server would stay up and files open. Inside `asyncio.run` the runner's
    Ctrl-C handler cancels the main task, so every task unwinds through its `finally` blocks; an exception raised
    here instead would land in whichever task happened to run, and asyncio would print it as a traceback at exit.
    Where Ctrl-C is ignored (a job a shell started in the background), SystemExit(143) is raised from a plain loop
    callback, outside every task (asyncio.run then cancels the tasks), or here when no event loop runs."""
    _TERMINATED.set()
    if callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise SystemExit(128 + signum) from None
    loop.call_soon_threadsafe(_exit_terminated)  # wakes a loop waiting on its selector


def _exit_terminated() -> None:
    raise SystemExit(EXIT_TERMINATED)


def set_up_provider(config: Path | None) -> ModelProvider:
    """The model provider of `config` (autodata.toml and AUTODATA_* variables), for the command to pass on."""
    return ModelProvider(load_settings(config, sections=task_sections()))


def progress_disabled() -> bool:
    return os.environ.get("AUTODATA_NO_PROGRESS") == "1"


@contextlib.contextmanager
def claim_run_directory(out: Path, inputs: dict[str, Path]) -> Iterator[RunDirectory]:
    """Check `out` is not inside an input folder, create it and hold its lock for the whole block."""
    check_outside_inputs(out, inputs)
    run_dir = RunDirectory(out)
    with run_dir.lock():
        yield run_dir


def count_documents(sources: Path) -> int | None:
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


class RequestLimitColumn(ProgressColumn):
    """Requests in flight / the endpoint's adaptive limit now, read at every refresh of the display."""

    def __init__(self, provider: ModelProvider) -> None:
        super().__init__()
        self.provider = provider

    def render(self, task: object) -> Text:
        return Text(describe_limits(self.provider.endpoint_limits()), style="dim")


async def run_with_progress(generator: BatchRunner, documents, limit: int | None, sources: Path) -> RunStats:
    """Run a batch generator (agentic or baseline) over `documents` with a progress bar on stderr."""
    total = count_documents(sources)
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("accepted {task.fields[accepted]}  last: {task.fields[last]}"), RequestLimitColumn(generator.provider),
    ]  # fmt: skip
    with Progress(*columns, console=console, disable=progress_disabled()) as progress:
        bar = progress.add_task(generator.options.task, total=total, accepted=0, last="")

        def done(doc_id: str, outcome: str) -> None:
            accepted = progress.tasks[0].fields["accepted"] + (outcome == "accepted")
            progress.update(bar, advance=1, accepted=accepted, last=f"{doc_id[:40]} {outcome}")

        generator.on_document_done = done
        generator.on_notice = lambda line: progress.console.print(f"repaired: {line}", style="yellow", markup=False,
                                                                  soft_wrap=True)  # fmt: skip
        models = generator.models
        console.print(f"[dim]task {generator.options.task}: {models['challenger']} (challenger), "
                      f"{models['weak']} (weak), {models['strong']} (strong), {models['judge']} (judge)[/]")
        return await generator.run(documents, limit=limit)

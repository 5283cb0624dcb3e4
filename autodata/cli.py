"""`autodata`: the command line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from autodata.corpus import SourcesError, iter_documents
from autodata.embedded import EmbeddedBackendError, stop_embedded_server
from autodata.models import ModelProvider, set_provider
from autodata.prompts import PromptError
from autodata.rundir import RunDirectory
from autodata.runner import GenerateOptions, Generator
from autodata.settings import ConfigError, load_settings
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
    """Cheap total for the progress bar: files, or lines of a JSONL file."""
    if sources.is_file():
        if sources.suffix.lower() == ".jsonl":
            with sources.open("rb") as fh:
                return sum(1 for line in fh if line.strip())
        return 1
    return None


@app.command()
def generate(
    task: TaskOption,
    sources: Annotated[
        Path, typer.Option("--sources", help="A folder of .md/.txt documents, one such file, or a JSONL of problems.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created if missing).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use at most N documents.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Round budget per document.")] = 3,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Answers per solver per round (k).")] = 4,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Documents processed at once.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Picks the span of long documents; part of item ids.")] = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Directory of prompt files overriding the shipped prompts/.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="autodata.toml with per-role models and endpoints (default: ./autodata.toml)."),
    ] = None,
) -> None:
    """Generate items: challenger -> quality check -> weak/strong solvers -> judge -> accept or retry.

    Models come from autodata.toml and AUTODATA_* environment variables; with nothing configured every role
    uses the embedded SmolLM2-135M model on a local llama.cpp server. Exit code 0: all documents processed;
    3: some documents were bad input or failed (see errors.jsonl); 2: the run could not start.
    """
    try:
        spec = task_spec(task)
        settings = load_settings(config)
        options = GenerateOptions(
            task=spec.name, samples=samples, max_rounds=rounds, seed=seed, concurrency=concurrency,
            prompts_dir=str(prompts) if prompts else None, policy_overrides=settings.policy, run_id=out.name,
        )  # fmt: skip
        documents = iter_documents(sources, settings.max_source_chars, seed)
        provider = ModelProvider(settings)
        set_provider(provider)
        run_dir = RunDirectory(out)
        stats = _run_with_progress(options, provider, run_dir, documents, limit, sources)
    except (UnknownTaskError, ConfigError, SourcesError, PromptError, EmbeddedBackendError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        stop_embedded_server()
    print_summary(console, [(stats, run_dir)])
    raise typer.Exit(EXIT_PARTIAL if stats.failed or stats.bad_input else EXIT_OK)


def _run_with_progress(options, provider, run_dir, documents, limit, sources):
    total = _count_documents(sources)
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("accepted {task.fields[accepted]}  last: {task.fields[last]}"),
    ]  # fmt: skip
    with Progress(*columns, console=console, disable=os.environ.get("AUTODATA_NO_PROGRESS") == "1") as progress:
        bar = progress.add_task(options.task, total=total, accepted=0, last="")

        def done(doc_id: str, outcome: str) -> None:
            accepted = progress.tasks[0].fields["accepted"] + (outcome == "accepted")
            progress.update(bar, advance=1, accepted=accepted, last=f"{doc_id[:40]} {outcome}")

        generator = Generator(options, provider, run_dir, on_document_done=done)
        console.print(f"[dim]task {options.task}: models {generator.models['challenger']} (challenger), "
                      f"{generator.models['weak']} (weak), {generator.models['strong']} (strong)[/]")
        return asyncio.run(generator.run(documents, limit=limit))


# Commands contributed by other parts of the application register themselves here, one line each.
def _register_commands() -> None:
    pass


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

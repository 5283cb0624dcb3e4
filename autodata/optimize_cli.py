"""`autodata optimize` and `autodata prompts promote`, registered on the main app by `register(app)`."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from autodata.corpus import SourcesError
from autodata.embedded import EmbeddedBackendError, stop_embedded_server
from autodata.models import ModelProvider, set_provider
from autodata.optimize import (
    CHECKPOINTS,
    HISTORY,
    PLOT,
    OptimizeError,
    run_optimization,
    with_meta_roles,
)
from autodata.prompt_library import PromptError
from autodata.prompt_versions import (
    SCORES_FILE,
    VERSIONS_DIR,
    FrozenPromptError,
    promote,
)
from autodata.settings import ConfigError, Settings, load_settings
from autodata.state.meta_state import IterationRecord, MetaContext, MetaState
from autodata.tasks import TASKS, UnknownTaskError, task_spec

console = Console(stderr=True)
EXIT_ERROR, EXIT_INTERRUPTED = 2, 130

prompts_app = typer.Typer(
    help="Prompt versions written by `autodata optimize`.", no_args_is_help=True, pretty_exceptions_enable=False
)


def build_provider(settings: Settings) -> ModelProvider:
    return ModelProvider(settings)


def optimize(
    task: Annotated[str, typer.Option("--task", help=f"One of: {', '.join(TASKS)}.", show_default=False)],
    train: Annotated[Path, typer.Option("--train", help="Training documents: minibatches for the analyzer.")],
    val: Annotated[Path, typer.Option("--val", help="Validation documents: every version is scored on all.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory (created; run again to resume).")],
    iterations: Annotated[int, typer.Option("--iterations", min=1, help="Iterations in all.")] = 10,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Iterations run at once.")] = 1,
    minibatch: Annotated[int, typer.Option("--minibatch", min=1, help="Training documents per iteration.")] = 4,
    temperature: Annotated[
        float, typer.Option("--temperature", min=1e-6, help="Boltzmann temperature for choosing parents.")
    ] = 0.1,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Round budget per document.")] = 3,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Answers per solver per round (k).")] = 4,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Documents at once per evaluation.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seeds parent choice and minibatches.")] = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Start from this prompt directory instead of the shipped prompts/.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="autodata.toml with per-role models.")] = None,
) -> None:
    """Optimize the editable prompts (challenger, orchestrator, quality verifier) on validation pass rate.

    Each iteration picks a parent version (Boltzmann over scores), runs it on a training minibatch, has an
    analyzer model explain the failures and an implementer model rewrite prompt files, and keeps the child
    only if it strictly beats the parent on the validation documents. Solver and judge prompts and the
    acceptance policy are frozen. The analyzer and implementer use the challenger's model unless
    AUTODATA_ANALYZER_MODEL / AUTODATA_IMPLEMENTER_MODEL (and _BASE_URL, _API_KEY) say otherwise.
    One process at a time writes a run directory; a second one is refused (exit 2).
    """
    from autodata import cli

    try:
        spec = task_spec(task)
        settings = with_meta_roles(load_settings(config))
        ctx = MetaContext(
            task=spec.name, train=str(train), val=str(val), run_dir=str(out),
            base_prompts=str(prompts) if prompts else None, samples=samples, max_rounds=rounds,
            minibatch=minibatch, temperature=temperature, workers=workers, seed=seed, concurrency=concurrency,
        )  # fmt: skip
        for label, path in (("--train", train), ("--val", val)):
            if not path.exists():
                raise SourcesError(f"{label} path does not exist: {path}")
        with cli.claim_run_directory(out, {"--train": train, "--val": val}):
            set_provider(build_provider(settings))
            state = _run_with_progress(ctx, iterations)
    except (UnknownTaskError, ConfigError, SourcesError, PromptError, EmbeddedBackendError, OptimizeError,
            FrozenPromptError, *cli.EXIT_2_ERRORS) as exc:  # fmt: skip
        cli.fail(exc)
    except KeyboardInterrupt:
        console.print(f"interrupted; run the same command again to resume from {out / CHECKPOINTS}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        set_provider(None)
        stop_embedded_server()
    print_optimize_summary(state, out)


def _iteration_line(record: IterationRecord) -> str:
    parent = record.parent_validation
    child = record.child_validation
    line = f"iteration {record.iteration}: parent {record.parent}"
    if child and parent:
        line += f" {parent.accepted}/{parent.documents} -> child {record.child} {child.accepted}/{child.documents}"
    line += f" [bold]{record.status}[/]"
    if record.rejected_edits:
        line += f" ({len(record.rejected_edits)} edit(s) rejected)"
    return line + (f" [red]{record.error}[/]" if record.error else "")


def _run_with_progress(ctx: MetaContext, iterations: int) -> MetaState:
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[stage]}")]  # fmt: skip
    with Progress(*columns, console=console, disable=os.environ.get("AUTODATA_NO_PROGRESS") == "1") as progress:
        bar = progress.add_task("optimize", total=iterations, stage="seeding")

        def on_update(namespace: tuple[str, ...], update: dict[str, Any]) -> None:
            for node, values in update.items():
                if node == "seed_population" and values:
                    root = values["evaluations"][0]
                    progress.console.print(f"root v0000: validation {root.accepted}/{root.documents} accepted")
                elif node == "keep_if_better":
                    record = values["iterations"][0]
                    progress.console.print(_iteration_line(record))
                    progress.update(bar, advance=1)
                elif namespace:
                    progress.update(bar, stage=node.replace("_", " "))

        state = asyncio.run(run_optimization(ctx, iterations, on_update))
        progress.update(bar, completed=len(state.iterations), stage="done")
    return state


def print_optimize_summary(state: MetaState, out: Path) -> None:
    table = Table(title="Prompt versions", title_justify="left")
    for column in ("version", "parent", "iteration", "status", "validation pass rate", "files changed"):
        table.add_column(column)
    for version in state.versions:
        score = state.score(version.id)
        table.add_row(
            version.id, version.parent or "-", str(version.iteration), version.status,
            "-" if score is None else f"{score:.2f}", ", ".join(version.files_changed) or "-",
        )  # fmt: skip
    console.print(table)
    best = max(state.population(), key=lambda v: state.score(v.id) or 0.0, default=None)
    if best is not None:
        console.print(f"best: {best.id} ({state.score(best.id) or 0.0:.2f}); history {out / HISTORY}, plot {out / PLOT}")
        console.print(f"use it: autodata prompts promote {out} {best.id} --to DIR, then generate --prompts DIR")


@prompts_app.command("promote")
def promote_command(
    run_dir: Annotated[Path, typer.Argument(help="An `autodata optimize` run directory.")],
    version: Annotated[str, typer.Argument(help="Version id, e.g. v0003 (see history.jsonl).")],
    to: Annotated[Path, typer.Option("--to", help="Directory to copy the prompt files into.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite different files already there.")] = False,
) -> None:
    """Copy a version's prompt files to DIR, for `autodata generate --prompts DIR`.

    The shipped prompts/ change only when a person commits them.
    """
    source = run_dir / VERSIONS_DIR / version
    if not source.is_dir():
        console.print(f"[bold red]error:[/] no version {version!r} in {run_dir / VERSIONS_DIR}")
        raise typer.Exit(EXIT_ERROR)
    scores = source / SCORES_FILE
    if scores.exists() and json.loads(scores.read_text(encoding="utf-8")).get("status") == "discarded":
        console.print(f"[yellow]note:[/] {version} did not beat its parent and is not in the population")
    try:
        copied = promote(source, to, overwrite=force)
    except PromptError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    console.print(f"copied {len(copied)} prompt files to {to}; use: autodata generate --prompts {to} ...")


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
    app.add_typer(prompts_app, name="prompts")

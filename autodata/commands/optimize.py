"""`autodata optimize` (evolve the editable prompts) and `autodata prompts promote` (copy a version out)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from autodata.commands.support import (
    EXIT_2_ERRORS,
    EXIT_INTERRUPTED,
    claim_run_directory,
    console,
    exit_with_error,
    fail,
    progress_disabled,
)
from autodata.engine.corpus import SourcesError
from autodata.llm.embedded import stop_embedded_server
from autodata.meta.outputs import result
from autodata.meta.selection import SELECTION_STRATEGIES
from autodata.meta.splits import SplitError, parse_size
from autodata.llm.models import ModelProvider
from autodata.meta.optimize import (
    CHECKPOINTS,
    HISTORY,
    PLOT,
    GraphBuilder,
    OptimizeError,
    run_optimization,
    with_meta_roles,
)
from autodata.prompting.library import PromptError
from autodata.prompting.versions import (
    SCORES_FILE,
    VERSIONS_DIR,
    FrozenPromptError,
    promote,
)
from autodata.llm.settings import Settings, load_settings
from autodata.state.meta import Evaluation, IterationRecord, MetaContext, MetaState
from autodata.state.policy import PRESET_NAMES
from autodata.tasks import TASKS, task_sections, task_spec
from autodata.tasks.meta_optimizer import meta_optimizer_for

prompts_app = typer.Typer(
    help="Prompt versions written by `autodata optimize`.", no_args_is_help=True, pretty_exceptions_enable=False
)


def build_provider(settings: Settings) -> ModelProvider:
    return ModelProvider(settings)


def parse_split(raw: str) -> tuple[int | float, int | float]:
    """`50/25` (counts) or `0.5/0.25` (fractions): training and validation sizes, the rest is test."""
    parts = raw.split("/")
    if len(parts) != 2:
        raise SplitError(f"--split takes TRAIN/VAL, e.g. 50/25 or 0.5/0.25, not {raw!r}")
    return parse_size(parts[0].strip()), parse_size(parts[1].strip())


def corpus_options(sources: Path | None, train: Path | None, val: Path | None, test: Path | None) -> dict[str, Path]:
    """The document options given, checked: --sources alone, or --train and --val (and optionally --test)."""
    if sources is not None and (train or val or test):
        raise SourcesError("give either --sources (split into train / validation / test) or --train and --val")
    given = {"--sources": sources} if sources is not None else {"--train": train, "--val": val, "--test": test}
    if sources is None and (train is None or val is None):
        raise SourcesError("give --sources DIR, or both --train and --val")
    for label, path in given.items():
        if path is not None and not path.exists():
            raise SourcesError(f"{label} path does not exist: {path}")
    return {label: path for label, path in given.items() if path is not None}


def optimize(
    task: Annotated[str, typer.Option("--task", help=f"One of: {', '.join(TASKS)}.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Run directory (created; run again to resume).")],
    sources: Annotated[
        Path | None, typer.Option("--sources", help="One corpus, split by doc id and --seed into train / "
                                  "validation / test (see --split).")
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="With --sources: TRAIN/VAL sizes as counts (50/25) or fractions "
                          "(0.5/0.25); the rest is the test split.")
    ] = "50/25",
    train: Annotated[
        Path | None, typer.Option("--train", help="Training documents: minibatches for the analyzer.")
    ] = None,
    val: Annotated[
        Path | None, typer.Option("--val", help="Validation documents: every version is scored on all.")
    ] = None,
    test: Annotated[
        Path | None, typer.Option("--test", help="With --train/--val: test documents, scored only at the end.")
    ] = None,
    selection: Annotated[
        str, typer.Option("--selection", help="Parent selection: boltzmann (over validation score) or pareto "
                          "(over per-document wins).")
    ] = "boltzmann",
    open_qv: Annotated[
        bool, typer.Option("--open-qv", help="Let the optimizer edit the quality-verifier prompts; every kept "
                           "change to them is listed in result.json.")
    ] = False,
    preset: Annotated[
        str, typer.Option("--preset", help=f"Acceptance preset for every evaluation: {', '.join(PRESET_NAMES)}, or "
                          "task (the task's own). Default: meta, the method's meta-optimization thresholds.")
    ] = "meta",
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", min=1, help="Stop after this many model calls.")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Stop after this many tokens.")] = None,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", min=0.01, help="Stop after this much wall time.")
    ] = None,
    digest_tokens: Annotated[
        int, typer.Option("--digest-tokens", min=500, help="Token budget of the trajectories the analyzer reads.")
    ] = 12_000,
    iterations: Annotated[int, typer.Option("--iterations", min=1, help="Iterations in all.")] = 10,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Iterations run at once.")] = 1,
    minibatch: Annotated[int, typer.Option("--minibatch", min=1, help="Training documents per iteration.")] = 4,
    temperature: Annotated[
        float, typer.Option("--temperature", min=1e-6, help="Boltzmann temperature for choosing parents.")
    ] = 0.1,
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, help="Round budget per document in every evaluation (the method's "
                          "items take 6-7 rounds on average; fewer cuts off most of the yield).")
    ] = 10,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, max=10, help="Validation runs of parent and child per iteration, on the "
                          "same documents, seed + r for repeat r; the child is kept only if its mean pass rate "
                          "beats the parent's by more than the spread between repeats.")
    ] = 2,
    samples: Annotated[
        int | None, typer.Option("--samples", min=1, help="Answers per solver per round (k); unset: the task's own "
                                 "weak and strong counts, as `generate` uses.")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Documents at once per evaluation.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seeds parent choice and minibatches.")] = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Start from this prompt directory instead of the shipped prompts/.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="autodata.toml with per-role models.")] = None,
) -> None:
    """Optimize the task's editable prompts on validation pass rate, evaluating the task's own graph.

    Each iteration picks a parent version (Boltzmann over scores, or Pareto), runs it on a training minibatch,
    has an analyzer model explain the failures (reading what earlier iterations tried) and an implementer model
    rewrite prompt files; a child that beats the parent on the parent's failed minibatch documents is scored on
    validation (--repeats runs of parent and child on the same documents) and kept only if its mean pass rate
    beats the parent's by more than the spread between repeats. At the end the best version and the root are scored on the
    test split. Which prompts are editable is the task's declaration; its solver, judge, quality-verifier
    and filter prompts and the acceptance policy are frozen.
    The analyzer and implementer use the challenger's model unless AUTODATA_ANALYZER_MODEL /
    AUTODATA_IMPLEMENTER_MODEL (and _BASE_URL, _API_KEY) say otherwise.
    One process at a time writes a run directory; a second one is refused (exit 2).
    """
    try:
        spec = task_spec(task)
        settings = with_meta_roles(load_settings(config, sections=task_sections()))
        inputs = corpus_options(sources, train, val, test)
        train_size, val_size = parse_split(split)
        if selection not in SELECTION_STRATEGIES:
            raise OptimizeError(f"--selection must be one of {', '.join(SELECTION_STRATEGIES)}, not {selection!r}")
        if preset not in (*PRESET_NAMES, "task"):
            raise OptimizeError(f"--preset must be one of {', '.join(PRESET_NAMES)} or task, not {preset!r}")
        ctx = MetaContext(
            task=spec.name, train=str(train or ""), val=str(val or ""), test=str(test or ""),
            sources=str(sources or ""), train_size=train_size, val_size=val_size, run_dir=str(out),
            base_prompts=str(prompts) if prompts else None, samples=samples, max_rounds=rounds, repeats=repeats,
            minibatch=minibatch, temperature=temperature, workers=workers, seed=seed, concurrency=concurrency,
            selection=selection, open_qv=open_qv, policy_preset=None if preset == "task" else preset,
            max_model_calls=max_calls,
            max_tokens=max_tokens, max_seconds=max_minutes * 60 if max_minutes else None,
            digest_tokens=digest_tokens,
        )  # fmt: skip
        with claim_run_directory(out, inputs):
            provider = build_provider(settings)
            state = _optimize_with_progress(ctx, iterations, lambda: meta_optimizer_for(spec, provider))
    except (OptimizeError, FrozenPromptError, SplitError, *EXIT_2_ERRORS) as exc:
        fail(exc)
    except KeyboardInterrupt:
        console.print(f"interrupted; run the same command again to resume from {out / CHECKPOINTS}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        stop_embedded_server()
    print_optimize_summary(state, out)


def _accepted(evaluations: list[Evaluation]) -> str:
    """Accepted documents per repeat over the document count, e.g. 1+2/4."""
    return "+".join(str(e.accepted) for e in evaluations) + f"/{evaluations[0].documents}"


def _iteration_line(record: IterationRecord) -> str:
    parent = record.parent_validations
    child = record.child_validations
    line = f"iteration {record.iteration}: parent {record.parent}"
    if child and parent:
        line += f" {_accepted(parent)} -> child {record.child} {_accepted(child)}"
        if record.decision is not None and record.decision.repeats > 1:
            decision = record.decision
            line += (f" (means {decision.parent_mean:.2f} -> {decision.child_mean:.2f}, "
                     f"spread {decision.spread:.2f})")  # fmt: skip
    elif record.screen is not None and record.status == "screened_out":
        line += f" -> child {record.child} {record.screen.accepted}/{record.screen.documents} on its failures"
    line += f" [bold]{record.status}[/]"
    if record.rejected_edits:
        line += f" ({len(record.rejected_edits)} edit(s) rejected)"
    return line + (f" [red]{record.error}[/]" if record.error else "")


def _optimize_with_progress(ctx: MetaContext, iterations: int, build_graph: GraphBuilder) -> MetaState:
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[stage]}")]  # fmt: skip
    with Progress(*columns, console=console, disable=progress_disabled()) as progress:
        bar = progress.add_task("optimize", total=iterations, stage="seeding")

        def on_update(namespace: tuple[str, ...], update: dict[str, Any]) -> None:
            for node, values in update.items():
                if node == "seed_population" and values:
                    runs = values["evaluations"]
                    progress.console.print(f"root v0000: validation {_accepted(runs)} accepted")
                elif node == "keep_if_better":
                    record = values["iterations"][0]
                    progress.console.print(_iteration_line(record))
                    progress.update(bar, advance=1)
                elif namespace:
                    progress.update(bar, stage=node.replace("_", " "))

        state = asyncio.run(run_optimization(ctx, iterations, build_graph, on_update))
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
    best = state.best_version()
    if best is not None:
        score = state.score(best) or 0.0
        console.print(f"best: {best} ({score:.2f}); history {out / HISTORY}, plot {out / PLOT}")
        outcome = result(state)
        if outcome["best_test"] is not None:
            console.print(f"test split: best {best} {outcome['best_test']:.2f} (validation {score:.2f}), "
                          f"root {outcome['root_test']:.2f} (validation {outcome['root_validation'] or 0.0:.2f})")
        if state.stop_reason:
            console.print(f"stopped by the budget: {state.stop_reason}")
        for change in outcome["qv_changes"]:
            console.print(f"[yellow]quality verifier changed[/] in kept {change['version']}: {change['file']} "
                          f"({len(change['removed'])} rule line(s) removed or reworded)")
        console.print(f"use it: autodata prompts promote {out} {best} --to DIR, then generate --prompts DIR")


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
        exit_with_error(f"no version {version!r} in {run_dir / VERSIONS_DIR}")
    try:
        if _version_status(source / SCORES_FILE) == "discarded":
            console.print(f"[yellow]note:[/] {version} did not beat its parent and is not in the population")
        copied = promote(source, to, overwrite=force)
    except (PromptError, OSError) as exc:
        fail(exc)
    console.print(f"copied {len(copied)} prompt files to {to}; use: autodata generate --prompts {to} ...")


def _version_status(scores: Path) -> str | None:
    """The `status` a version's scores.json records (None when it has none yet); PromptError when damaged."""
    if not scores.exists():
        return None
    try:
        scores_data = json.loads(scores.read_text(encoding="utf-8"))
        problem = None if isinstance(scores_data, dict) else "not a JSON object"
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        problem = str(exc)
    if problem:
        raise PromptError(f"{scores} is damaged ({problem}); restore it, or delete it to promote without the "
                          "kept/discarded note")
    status = scores_data.get("status")
    return status if isinstance(status, str) else None


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
    app.add_typer(prompts_app, name="prompts")

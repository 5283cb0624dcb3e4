"""`autodata baseline`: a classical method (CoT-Self-Instruct, Self-Instruct) on the same sources as `generate`."""

from __future__ import annotations

import asyncio
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from autodata.llm import models
from autodata.engine.baseline_runner import BaselineOptions
from autodata.tasks.baselines import BaselineRunner
from autodata.commands.support import (
    EXIT_2_ERRORS,
    ConfigOption,
    claim_run_directory,
    console,
    exit_code,
    fail,
    run_with_progress,
)
from autodata.engine.corpus import iter_documents
from autodata.llm.embedded import stop_embedded_server
from autodata.llm.settings import load_settings
from autodata.report.summary import print_summary
from autodata.engine.rip_filter import DEFAULT_RIP_FRACTION
from autodata.state.baselines import BaselineArrangement
from autodata.state.schemas import TaskFamily
from autodata.tasks import TaskSpec, task_choices, task_samples, task_sections, task_spec


class BaselineMethod(str, Enum):
    COT_SELF_INSTRUCT = "cot-self-instruct"
    SELF_INSTRUCT = "self-instruct"


def baseline_arrangement(spec: TaskSpec) -> BaselineArrangement:
    """The task's baseline arrangement, its solver prompt the task's own unless the arrangement names one."""
    return spec.baseline.model_copy(update={"solver_prompt": spec.baseline.solver_prompt or spec.solver_prompt})


def baseline(
    method: Annotated[BaselineMethod, typer.Option("--method", help="Which classical method to run.")],
    task: Annotated[str, typer.Option("--task", help=f"Whose items to make: {task_choices()}", show_default=False)],
    sources: Annotated[
        Path, typer.Option("--sources", help="A folder of .md/.txt documents, one such file, or a JSONL of problems.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created if missing).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use at most N documents.")] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", min=1, help="Answers per solver when scoring (default: the task's, as "
                                 f"its agentic set is scored: {task_samples()}).")
    ] = None,
    consistency_samples: Annotated[
        int, typer.Option("--consistency-samples", min=1, help="CoT-Self-Instruct, verifiable tasks: strong-solver "
                          "samples whose majority answer must agree with the generated answer (K).")
    ] = 4,
    rip_fraction: Annotated[
        float, typer.Option("--rip-fraction", min=0.0, max=0.99, help="CoT-Self-Instruct, rubric tasks: the RIP "
                            "filter drops this share of the kept items, by the lowest strong-solver rubric score, "
                            "once the batch is done (0: off). Recorded in config.json.")
    ] = DEFAULT_RIP_FRACTION,
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

    One item per document, no feedback loop; each item passes the filters of the task's agentic set and is
    scored once by the same weak and strong solvers, solver prompt, sample counts and judge (the task's
    baseline arrangement, docs/report.md), so `autodata report` can compare the runs. CoT-Self-Instruct on a
    rubric task then applies the method's RIP filter to the whole set (--rip-fraction). Same run-directory
    format and exit codes as `generate`.
    """
    try:
        with claim_run_directory(out, {"--sources": sources}) as run_dir:
            settings = load_settings(config, sections=task_sections())
            spec = task_spec(task)
            weak_samples, strong_samples = (samples, samples) if samples else spec.samples
            rip_runs = method is BaselineMethod.COT_SELF_INSTRUCT and spec.family is TaskFamily.RUBRIC
            options = BaselineOptions(
                task=spec.name, weak_samples=weak_samples, strong_samples=strong_samples, max_rounds=1, seed=seed,
                concurrency=concurrency, prompts_dir=str(prompts) if prompts else None,
                policy_overrides=settings.policy, run_id=out.name, method=method.value, allow_mixed=force_mixed,
                consistency_samples=consistency_samples, arrangement=baseline_arrangement(spec),
                rip_fraction=rip_fraction if rip_runs else 0.0,
            )  # fmt: skip
            documents = iter_documents(sources, settings.max_source_chars, seed)
            # Looked up on the module when the command runs, so a scripted provider can stand in for it.
            provider = models.ModelProvider(settings)
            runner = BaselineRunner(options, provider, run_dir)
            stats = asyncio.run(run_with_progress(runner, documents, limit, sources))
    except EXIT_2_ERRORS as exc:
        fail(exc)
    finally:
        stop_embedded_server()
    print_summary(console, [(stats, run_dir)])
    extras = stats.as_dict()
    console.print(
        f"[bold]{method.value}[/]: {extras['kept']} item(s) kept, {extras['meets_policy']} meet the acceptance "
        f"policy, {extras['dropped_inconsistent']} dropped by the answer-consistency filter, "
        f"{extras['no_item']} document(s) without an item"
    )
    if runner.rip is not None:
        rip = runner.rip
        console.print(
            f"RIP filter: {rip.before} -> {rip.after} item(s), the bottom {rip.fraction:.0%} of {rip.ranked} ranked by "
            f"the lowest strong-solver rubric score dropped (rip_dropped.jsonl)"
        )
    raise typer.Exit(exit_code([(stats, run_dir)]))


def register(app: typer.Typer) -> None:
    app.command("baseline")(baseline)

"""`autodata generate` and `autodata demo`: the agentic loop over a corpus, one run directory per task."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from autodata.commands.support import (
    EXIT_2_ERRORS,
    ConfigOption,
    claim_run_directory,
    console,
    exit_code,
    fail,
    interrupts_reported,
    run_with_progress,
)
from autodata.engine.corpus import iter_documents
from autodata.llm.embedded import stop_embedded_server
from autodata.llm.models import ModelProvider, check_endpoints
from autodata.prompting.resources import package_dir
from autodata.engine.reviews import ReviewLog
from autodata.engine.rundir import RunDirectory
from autodata.llm.settings import Settings, load_settings
from autodata.state.policy import PresetName
from autodata.report.summary import print_summary
from autodata.tasks import TASKS, task_choices, task_samples, task_sections, task_spec
from autodata.tasks.runner import GenerateOptions, Generator, RunStats

DEFAULT_DEMO_CONFIG = package_dir("autodata.configs") / "embedded-demo.toml"


TaskOption = Annotated[
    str, typer.Option("--task", help=f"What to generate: {task_choices()}", show_default=False)
]
RoundsOption = Annotated[
    int | None,
    typer.Option("--rounds", min=1, help="Round budget per document; a document stops early once an item is "
                 "accepted. Default: `rounds` in the TOML's generation section, else the task graph's (20; a "
                 "graph with improve rounds: the first draft and its improve rounds)."),
]
SamplesOption = Annotated[
    int | None, typer.Option("--samples", min=1, help="Answers per solver per round, for both solvers (k).")
]
WeakSamplesOption = Annotated[
    int | None,
    typer.Option("--weak-samples", min=1, help="Weak-solver answers per round (wins over --samples). Default: the "
                 f"TOML's generation section, else the task's weak + strong ({task_samples()})."),
]
StrongSamplesOption = Annotated[
    int | None,
    typer.Option("--strong-samples", min=1, help="Strong-solver answers per round (wins over --samples). Default: "
                 "the TOML's generation section, else the task's."),
]
PolicyOption = Annotated[
    PresetName | None,
    typer.Option("--policy", help="Acceptance preset: deployed (paper figure 7), prose (section 3.1) or meta "
                 "(section 4); default: the task's. Thresholds in the TOML's policy section still override it."),
]
ForceMixedOption = Annotated[
    bool,
    typer.Option("--force-mixed", help="Resume a run directory made with other settings (task, samples, rounds, "
                 "policy, prompts, seed, a role's model, max_source_chars) anyway; config.json keeps the earlier "
                 "settings under `history`."),
]


@dataclass
class GenerateJob:
    task: str
    sources: Path
    out: Path
    limit: int | None = None
    rounds: int | None = None
    samples: int | None = None
    concurrency: int = 1
    seed: int = 0
    prompts: Path | None = None
    server: str | None = None
    force_mixed: bool = False
    weak_samples: int | None = None
    strong_samples: int | None = None
    policy: str | None = None  # an acceptance preset name
    max_cost: float | None = None  # USD for the run directory: no new document past it (exit 4)
    max_tokens: int | None = None
    review: bool = False  # pause where an item would be kept, for `autodata review`


def generate_options(job: GenerateJob, settings: Settings) -> GenerateOptions:
    """The job's options: command-line sizes and preset over the TOML's [generation] and [policy], the task's own
    section and defaults (the task registry's) under them."""
    spec = task_spec(job.task)
    if job.review and not spec.batch.reviewed:
        reviewed = ", ".join(name for name, task in TASKS.items() if task.batch.reviewed)
        raise typer.BadParameter(f"--review: the {spec.name} task's graph does not pause for review "
                                 f"(the tasks whose graphs do: {reviewed})")  # fmt: skip
    sizes = settings.context_overrides(
        samples=job.samples, weak_samples=job.weak_samples, strong_samples=job.strong_samples, rounds=job.rounds
    )
    policy = {**settings.policy, **({"preset": job.policy} if job.policy else {})}
    return GenerateOptions(
        task=spec.name, samples=job.samples, weak_samples=sizes.get("weak_samples"),
        strong_samples=sizes.get("strong_samples"), max_rounds=sizes.get("max_rounds"), seed=job.seed,
        concurrency=job.concurrency, prompts_dir=str(job.prompts) if job.prompts else None, policy_overrides=policy,
        run_id=job.out.name, allow_mixed=job.force_mixed, max_cost=job.max_cost, max_tokens=job.max_tokens,
        graph_settings=settings.graph_settings.get(spec.section, {}) if spec.section else {},
        defaults=spec.defaults, review=job.review,
    )  # fmt: skip


async def _run_job(job: GenerateJob, settings: Settings, provider: ModelProvider) -> tuple[RunStats, RunDirectory]:
    options = generate_options(job, settings)
    documents = iter_documents(job.sources, settings.max_source_chars, job.seed)
    run_dir = RunDirectory(job.out)
    invoker = None
    if job.server:
        from autodata.engine.remote import remote_invoker

        # The task's graph as served; with --review, paused threads wait on the server for `autodata review`.
        invoker = remote_invoker(job.server, task_spec(job.task).graph, ReviewLog(run_dir.path) if job.review else None)
    generator = Generator(options, provider, run_dir, invoke=invoker)
    return await run_with_progress(generator, documents, job.limit, job.sources), run_dir


async def _run_jobs_in_one_loop(jobs: list[GenerateJob], settings: Settings, provider: ModelProvider):
    # One event loop for every job: the chat models' HTTP clients belong to the loop they were first used in.
    return [await _run_job(job, settings, provider) for job in jobs]


def run_jobs(
    jobs: list[GenerateJob], config: Path | None, max_requests: int | None = None
) -> list[tuple[RunStats, RunDirectory]]:
    """Run jobs in order with one model provider (so one embedded server); exit 2 when a run cannot start or its
    run directory cannot be written. Every job's run directory is locked first, so a busy one is refused at once."""
    try:
        with interrupts_reported(), contextlib.ExitStack() as claims:
            for job in jobs:
                claims.enter_context(claim_run_directory(job.out, {"--sources": job.sources}))
            settings = load_settings(config, sections=task_sections()).with_request_limit(max_requests)
            if not any(job.server for job in jobs):  # with --server the models are the server's business
                check_endpoints(settings)
            provider = ModelProvider(settings)
            return asyncio.run(_run_jobs_in_one_loop(jobs, settings, provider))
    except EXIT_2_ERRORS as exc:
        fail(exc)
    finally:
        stop_embedded_server()


def generate(
    task: TaskOption,
    sources: Annotated[
        Path, typer.Option("--sources", help="A folder of .md/.txt documents, one such file, or a JSONL of problems.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (created if missing).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use at most N documents.")] = None,
    rounds: RoundsOption = None,
    samples: SamplesOption = None,
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
    weak_samples: WeakSamplesOption = None,
    strong_samples: StrongSamplesOption = None,
    policy: PolicyOption = None,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", min=0, help="Budget in USD for the run directory, every run of it together: no "
                     "new document is started once it would be exceeded (estimated from the documents finished so "
                     "far); those in flight finish; exit 4. Needs price_input and price_output for every role."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=1, help="The same budget in tokens (prompt + completion, every role)."),
    ] = None,
    review: Annotated[
        bool,
        typer.Option("--review", help="Pause each document where its item would be kept, for a person to approve, "
                     "edit or reject it with `autodata review OUT`; running the same command again carries the "
                     "reviewed documents on."),
    ] = False,
) -> None:
    """Generate items: challenger -> quality check -> weak/strong solvers -> judge -> accept or retry.

    Models come from autodata.toml and AUTODATA_* environment variables; with nothing configured every role
    uses the embedded SmolLM2-135M model on a local llama.cpp server. Re-running the same command resumes;
    one process at a time writes a run directory. Exit code 0: all documents processed; 3: some documents were
    bad input or failed (see errors.jsonl); 4: --max-cost or --max-tokens was reached (re-run with a higher
    budget to continue); 2: the run could not start or its directory could not be written (in use, other
    settings, inside --sources, disk full or read-only).
    """
    job = GenerateJob(
        task, sources, out, limit, rounds, samples, concurrency, seed, prompts, server, force_mixed,
        weak_samples=weak_samples, strong_samples=strong_samples, policy=policy, max_cost=max_cost,
        max_tokens=max_tokens, review=review,
    )  # fmt: skip
    results = run_jobs([job], config, max_requests)
    print_summary(console, results)
    for stats, _ in results:
        if stats.budget_stop:
            console.print(f"budget: {stats.budget_stop}. Run the same command with a higher budget to continue "
                          "(finished documents are kept).", style="yellow", markup=False, soft_wrap=True)  # fmt: skip
    raise typer.Exit(exit_code(results))


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
    """Run every task on a few shared documents (each task's demo sources) and print one summary."""
    jobs = [
        GenerateJob(spec.name, corpora / spec.demo_sources, out / spec.name, limit=limit, rounds=rounds, samples=samples)
        for spec in TASKS.values() if spec.demo_sources
    ]
    results = run_jobs(jobs, config or DEFAULT_DEMO_CONFIG)
    print_summary(console, results)
    raise typer.Exit(exit_code(results))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("demo")(demo)

"""`autodata rate-suitability`: a finished run's items (e.g. a baseline) rated by its task's suitability rater.

Which tasks have one, and what it is, is the task registry's `rate_suitability` (a task whose graph ends in a
loop judge rates items with it); the run's task comes from its config.json or stats.json.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from autodata.commands.support import EXIT_2_ERRORS, ConfigOption, console, fail, set_up_provider
from autodata.llm.embedded import stop_embedded_server
from autodata.engine.rundir import CONFIG, STATS, hold_lock, read_json
from autodata.tasks import TASKS


class NoSuitabilityRater(ValueError):
    """The run's task has no suitability rater."""


def suitability_rater(run_dir: Path) -> Callable[..., Any]:
    """The rater of the run's task; a run whose task cannot be read (no config.json or stats.json) gets the
    rater when only one task has one (its own checks then say what is missing)."""
    task = next((str(read_json(run_dir / name).get("task") or "") for name in (CONFIG, STATS)
                 if (run_dir / name).exists()), "")  # fmt: skip
    raters = {spec.name: spec.rate_suitability for spec in TASKS.values() if spec.rate_suitability}
    if task in raters:
        return raters[task]
    if not task and len(raters) == 1:
        return next(iter(raters.values()))
    raise NoSuitabilityRater(f"{run_dir}: task {task or '(unknown)'!r} has no suitability rating; tasks with one: "
                             f"{', '.join(raters) or 'none'}")  # fmt: skip


def rate_suitability(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (e.g. a CoT baseline) to rate.")],
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Directory of prompt files overriding the shipped prompts/.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Rate every item's GRPO suitability with its task's loop judge (writes suitability.json).

    The same judge, prompt and diagnostic packet as the task graph's loop judge, so `autodata report` can
    compare a baseline's high/medium/low distribution with the agentic run's (METHOD.md section 3). An item
    whose rating failed is not stored and is asked again by the next run of this command.
    """

    async def rate_all() -> None:
        for run_dir in run_dirs:  # one event loop: the chat models' HTTP clients belong to it
            # suitability.json is written into the run directory: one writer at a time.
            with hold_lock(run_dir) if run_dir.is_dir() else contextlib.nullcontext():
                rate = suitability_rater(run_dir)
                summary = await rate(run_dir, provider, str(prompts) if prompts else None)
            console.print(f"[bold]{run_dir.name}[/]: {summary.rated} rated, {summary.already_rated} already "
                          f"rated, {summary.failed} failed (asked again next time)")  # fmt: skip

    try:
        provider = set_up_provider(config)
        asyncio.run(rate_all())
    except (ValueError, *EXIT_2_ERRORS) as exc:  # the raters' errors are ValueErrors (a run they cannot rate)
        fail(exc)
    finally:
        stop_embedded_server()


def register(app: typer.Typer) -> None:
    app.command("rate-suitability")(rate_suitability)

"""`autodata rate-suitability`: a finished run's items (the legal CoT baseline) rated by the legal loop judge."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from autodata.commands.support import EXIT_2_ERRORS, ConfigOption, console, fail, set_up_provider
from autodata.llm.embedded import stop_embedded_server
from autodata.engine.rundir import hold_lock
from autodata.tasks.legal.suitability import SuitabilityError, rate_run


def rate_suitability(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (e.g. a legal CoT baseline) to rate.")],
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Directory of prompt files overriding the shipped prompts/.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Rate every item's GRPO suitability with the legal loop judge (writes suitability.json).

    The same judge, prompt and diagnostic packet as the legal graph's loop judge, so `autodata report` can
    compare a baseline's high/medium/low distribution with the agentic run's (METHOD.md section 3). An item
    whose rating failed is not stored and is asked again by the next run of this command.
    """

    async def rate_all() -> None:
        for run_dir in run_dirs:  # one event loop: the chat models' HTTP clients belong to it
            # suitability.json is written into the run directory: one writer at a time.
            with hold_lock(run_dir) if run_dir.is_dir() else contextlib.nullcontext():
                summary = await rate_run(run_dir, str(prompts) if prompts else None)
            console.print(f"[bold]{run_dir.name}[/]: {summary.rated} rated, {summary.already_rated} already "
                          f"rated, {summary.failed} failed (asked again next time)")  # fmt: skip

    try:
        set_up_provider(config)
        asyncio.run(rate_all())
    except (SuitabilityError, *EXIT_2_ERRORS) as exc:
        fail(exc)
    finally:
        stop_embedded_server()


def register(app: typer.Typer) -> None:
    app.command("rate-suitability")(rate_suitability)

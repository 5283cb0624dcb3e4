"""`autodata`: the command line. The commands live in `autodata.commands`, one family per module."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from autodata.commands import baseline, generate, grade, optimize, publish, report, review, suitability, train
from autodata.commands.support import EXIT_TERMINATED, exit_on_sigterm, terminated

app = typer.Typer(
    name="autodata",
    help="Agentic Self-Instruct: turn source documents into difficulty-calibrated training and evaluation data.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


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


# The order here is the order of `autodata --help`.
for command_family in (generate, baseline, grade, report, review, publish, suitability, optimize, train):
    command_family.register(app)


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        app()
    except SystemExit as exc:
        # A SIGTERM travels as Ctrl-C (exit_on_sigterm); a command that does not report interrupts itself ends in
        # click's "Aborted!" (exit 1): the exit code still says it was terminated.
        if terminated() and exc.code == 1:
            raise SystemExit(EXIT_TERMINATED) from None
        raise


if __name__ == "__main__":
    main()

"""The human-readable end-of-run summary printed by `generate` (and `make demo`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from autodata.rundir import RunDirectory
from autodata.runner import RunStats
from state.schemas import ROLES


def _usage_table(stats: RunStats) -> Table:
    table = Table(title=f"{stats.task}: model calls and tokens per role", title_justify="left")
    for column in ("role", "calls", "failed", "prompt tok", "completion tok"):
        table.add_column(column, justify="left" if column == "role" else "right")
    for role in ROLES:
        u = stats.usage.get(role)
        if u is None:
            table.add_row(role, "0", "0", "0", "0")
        else:
            table.add_row(role, str(u.calls), str(u.failures), f"{u.prompt_tokens:,}", f"{u.completion_tokens:,}")
    return table


def print_summary(console: Console, runs: list[tuple[RunStats, RunDirectory]]) -> None:
    overview = Table(title="Autodata run summary", title_justify="left")
    for column in ("task", "documents", "accepted", "rounds", "rounds/accepted", "rejections", "bad input",
                   "failed", "time"):  # fmt: skip
        overview.add_column(column, justify="left" if column in ("task", "rejections") else "right")
    for stats, _ in runs:
        per_accepted = (
            f"{sum(stats.rounds_per_accepted) / len(stats.rounds_per_accepted):.1f}" if stats.rounds_per_accepted else "-"
        )
        rejections = ", ".join(f"{reason} {n}" for reason, n in sorted(stats.rejections.items())) or "-"
        overview.add_row(
            stats.task, str(stats.documents), str(stats.accepted), str(stats.rounds), per_accepted, rejections,
            str(stats.bad_input), str(stats.failed), f"{stats.wall_seconds:.0f}s",
        )  # fmt: skip
    console.print(overview)
    for stats, run_dir in runs:
        console.print(_usage_table(stats))
        console.print(f"[bold]{stats.task}[/] run directory: [cyan]{run_dir.path.resolve()}[/] "
                      f"(items.jsonl, trajectories.jsonl, stats.json, dataset/)")
        if stats.bad_input or stats.failed:
            console.print(f"[yellow]{stats.bad_input + stats.failed} document(s) skipped: see "
                          f"{run_dir.file('errors.jsonl')}[/]")

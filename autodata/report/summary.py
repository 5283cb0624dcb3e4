"""The human-readable end-of-run summary printed by `generate` (and `make demo`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from autodata.engine.records import RunStats
from autodata.engine.rundir import RunDirectory
from autodata.state.schemas import ROLES


def _usage_table(runs: list[tuple[RunStats, RunDirectory]]) -> Table:
    table = Table(title="Model calls and tokens per role", title_justify="left")
    table.add_column("task", no_wrap=True)
    table.add_column("role", no_wrap=True)
    for column in ("calls", "failed", "prompt tok", "cached tok", "completion tok"):
        table.add_column(column, justify="right")
    for stats, _ in runs:
        for index, role in enumerate(ROLES):
            u = stats.usage.get(role)
            cells = ("0", "0", "0", "0", "0") if u is None else (
                str(u.calls), str(u.failures), f"{u.prompt_tokens:,}", f"{u.cached_prompt_tokens:,}",
                f"{u.completion_tokens:,}",
            )
            table.add_row(stats.task if index == 0 else "", role, *cells, end_section=index == len(ROLES) - 1)
    return table


def _overview_table(runs: list[tuple[RunStats, RunDirectory]]) -> Table:
    table = Table(title="Autodata run summary", title_justify="left")
    for column in ("task", "docs", "accepted", "rounds", "rnd/acc", "dupes", "skipped", "bad", "failed", "time"):
        table.add_column(column, justify="left" if column == "task" else "right", no_wrap=column == "task")
    for stats, _ in runs:
        per_accepted = stats.rounds_per_accepted
        table.add_row(
            stats.task, str(stats.documents), str(stats.accepted), str(stats.rounds),
            f"{sum(per_accepted) / len(per_accepted):.1f}" if per_accepted else "-",
            str(stats.near_duplicates), str(stats.skipped), str(stats.bad_input), str(stats.failed),
            f"{stats.wall_seconds:.0f}s",
        )  # fmt: skip
    return table


def _rejections_table(runs: list[tuple[RunStats, RunDirectory]]) -> Table:
    reasons = sorted({reason for stats, _ in runs for reason in stats.rejections})
    table = Table(title="Rejected rounds by reason", title_justify="left")
    table.add_column("task", no_wrap=True)
    for reason in reasons:
        table.add_column(reason.replace("_", " "), justify="right")
    for stats, _ in runs:
        table.add_row(stats.task, *(str(stats.rejections.get(reason, 0)) for reason in reasons))
    return table


def _print_skipped(console: Console, run_dir: RunDirectory) -> None:
    """Documents a task's graph judged unsuitable (status skipped), each with its reason."""
    console.print("[yellow]skipped as unsuitable:[/]")
    for row in run_dir.trajectories():
        if row.get("status") == "skipped":
            console.print(f"  {row['doc_id']}: {row.get('skip_reason') or 'unsuitable'}", markup=False)


def solver_asymmetry_line(asymmetry: dict[str, dict]) -> str | None:
    """Says how weak and strong differ besides the model (the embedded demo's budget handicap), or None."""
    if not asymmetry:
        return None
    parts = ", ".join(f"{name} {values['weak']} vs {values['strong']}" for name, values in asymmetry.items())
    return (f"solver_asymmetry: weak and strong differ by {parts} (weak vs strong), not only by model as in the "
            "method; see stats.json")


def print_summary(console: Console, runs: list[tuple[RunStats, RunDirectory]]) -> None:
    console.print(_overview_table(runs))
    if any(stats.rejections for stats, _ in runs):
        console.print(_rejections_table(runs))
    console.print(_usage_table(runs))
    if runs and (line := solver_asymmetry_line(runs[0][0].solver_asymmetry)):
        console.print(f"[yellow]{line}[/]")  # every run of one command shares the settings
    for stats, run_dir in runs:
        if stats.resumed:
            console.print(f"[dim]{stats.resumed} document(s) were finished by an earlier run of this command[/]")
        console.print(f"[bold]{stats.task}[/] run directory: [cyan]{run_dir.path.resolve()}[/] "
                      f"(items.jsonl, trajectories.jsonl, stats.json, dataset/)")
        if stats.skipped:
            _print_skipped(console, run_dir)
        if (stats.cost or {}).get("total") is not None:
            per_item = stats.cost["per_accepted_item"]
            console.print(f"cost: ${stats.cost['total']:.4f}"
                          + (f", ${per_item:.4f} per accepted item" if per_item is not None else ""))  # fmt: skip
        if stats.final_filter:
            console.print(f"[dim]end-of-loop filter: {stats.final_filter['passed']} passed, "
                          f"{stats.final_filter['rejected']} rejected[/]")
        if stats.bad_input or stats.failed:
            console.print(f"[yellow]{stats.bad_input + stats.failed} document(s) skipped: see "
                          f"{run_dir.file('errors.jsonl')}[/]")

"""The human-readable end-of-run summary printed by `generate` (and `make demo`).

Besides the tables it shows the end-of-loop filter's attrition (accepted in the loop -> kept after the filter)
and, for a run that accepted nothing, one rejected round (its question, the rule that rejected it and why), so
a newcomer sees the loop at work.
"""

from __future__ import annotations

from typing import Any

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


_MAX_SHOWN_CHARS = 300


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


def _round_question(record: dict[str, Any]) -> str:
    item = record.get("item") or next((c.get("item") for c in record.get("candidates") or [] if c.get("item")), None)
    return (item or {}).get("question") or "(no question was produced)"


def _round_reason(record: dict[str, Any]) -> str:
    """Why the round was rejected, from whichever record the task's graph keeps."""
    failed_checks = [r for q in record.get("quality") or [] if not q.get("passed") for r in q.get("reasons") or []]
    judge = record.get("judge") or {}
    packet = record.get("packet") or {}
    feedback = record.get("feedback") or {}
    candidates = [r for c in record.get("candidates") or [] for r in c.get("reasons") or []]
    for reasons in (failed_checks, record.get("shape_violations"), packet.get("post_filter_flags"),
                    record.get("rule_reasons"), feedback.get("details"), candidates):  # fmt: skip
        if reasons:
            return "; ".join(str(reason) for reason in reasons[:3])
    return judge.get("verdict_reason") or record.get("diagnosis") or record.get("error") or "see trajectories.jsonl"


def rejected_round(run_dir: RunDirectory) -> dict[str, str] | None:
    """The last round of the first document that has a rejected round: question, rule, reason; None if none."""
    for row in run_dir.trajectories():
        rejected = [r for r in row.get("rounds") or [] if r.get("outcome") not in (None, "accepted")]
        if rejected:
            record = rejected[-1]
            rule = record.get("rule") or record.get("outcome")
            return {"doc_id": str(row.get("doc_id")), "round": str(record.get("round")),
                    "question": _clip(_round_question(record)), "rule": str(rule),
                    "reason": _clip(_round_reason(record))}  # fmt: skip
    return None


def _print_rejected_round(console: Console, run_dir: RunDirectory) -> None:
    shown = rejected_round(run_dir)
    if shown is None:
        return
    console.print(f"[yellow]nothing was accepted; one rejected round ({shown['doc_id']}, round {shown['round']}):[/]")
    for key in ("question", "rule", "reason"):
        console.print(f"  {key}: {shown[key]}", markup=False)


def end_filter_line(stats: RunStats) -> str | None:
    """'end-of-loop filter: 3 accepted in the loop -> 1 kept after the filter (2 removed)', or None if it never ran."""
    attrition = stats.end_filter_attrition()
    if not stats.final_filter and not attrition["removed"]:
        return None
    line = (f"end-of-loop filter: {attrition['accepted_in_loop']} accepted in the loop -> "
            f"{attrition['kept_after_filter']} kept after the filter ({attrition['removed']} removed)")  # fmt: skip
    rejected = stats.final_filter.get("rejected", 0)
    if rejected > attrition["removed"]:  # policy.end_filter_feedback: rejections that started a new round
        line += f"; {rejected - attrition['removed']} rejection(s) fed back to the challenger"
    return line


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
        if stats.awaiting_review:
            console.print(f"{stats.awaiting_review} document(s) await review: autodata review {run_dir.path}, then "
                          "run the same command again to carry them on", style="yellow", markup=False)  # fmt: skip
        if line := cost_line(stats):
            console.print(line, markup=False)
        if line := end_filter_line(stats):
            console.print(line, markup=False)
        if stats.documents and not stats.accepted:
            _print_rejected_round(console, run_dir)
        if line := errors_line(stats, run_dir):
            console.print(line, style="yellow", markup=False, soft_wrap=True)


def cost_line(stats: RunStats) -> str | None:
    """The run's cost; "unknown" when model calls were made but a price they need is not set (never $0)."""
    total = (stats.cost or {}).get("total")
    if total is None:
        called = any(usage.calls for usage in stats.usage.values())
        return "cost: unknown (set price_input and price_output for every role to count it)" if called else None
    per_item = stats.cost["per_accepted_item"]
    return f"cost: ${total:.4f}" + (f", ${per_item:.4f} per accepted item" if per_item is not None else "")


def errors_line(stats: RunStats, run_dir: RunDirectory) -> str | None:
    """Bad inputs (fix the source) and failed documents (the endpoint's fault: the next run retries them)."""
    parts = []
    if stats.bad_input:
        parts.append(f"{stats.bad_input} document(s) were bad input")
    if stats.failed:
        parts.append(f"{stats.failed} document(s) failed (run the same command to retry them)")
    return f"{'; '.join(parts)}: see {run_dir.file('errors.jsonl')}" if parts else None

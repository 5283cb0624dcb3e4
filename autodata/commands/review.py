"""`autodata review RUNDIR`: a person's decisions on the items a `generate --review` run paused on.

Without flags it shows the waiting items one by one in the terminal and asks for each: approve, edit (the
editable fields open in $EDITOR as JSON), reject (with a reason), skip or quit. The flags decide one item each
for scripted use. Each decision is appended to RUNDIR/reviews.jsonl at once; running the same `generate`
command again carries the reviewed documents on.
"""

from __future__ import annotations

import json
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.panel import Panel
from rich.prompt import Prompt
from rich.table import Table

from autodata.engine.reviews import Pause, ReviewLog, ReviewLogError
from autodata.nodes.shared.review import EDITABLE, ReviewError, parse_decision

console = Console()


def default_reviewer() -> str:
    return os.environ.get("AUTODATA_REVIEWER") or os.environ.get("USER") or ""


def read_edits(path: Path) -> dict[str, Any]:
    """The corrected fields in a JSON or TOML file (by its suffix)."""
    try:
        text = path.read_text(encoding="utf-8")
        edits = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ReviewError(f"--edit {path}: {exc}") from None
    if not isinstance(edits, dict):
        raise ReviewError(f"--edit {path}: expected an object of corrected fields ({', '.join(EDITABLE)})")
    return edits


def check_editable(log: ReviewLog, item_id: str, edits: dict[str, Any]) -> None:
    """Refuse, before it is recorded, an edit of a field the waiting item's graph does not have."""
    pause = next((pause for pause in log.waiting() if pause.item_id == item_id), None)
    foreign = sorted(set(edits) - set(editable_fields(pause))) if pause is not None else []
    if foreign:
        raise ReviewError(f"item {item_id} has no {', '.join(foreign)} to edit "
                          f"(editable: {', '.join(editable_fields(pause))})")  # fmt: skip


def decision_row(decision: str, reviewer: str, reason: str = "", edits: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checked decision, as reviews.jsonl keeps it (ReviewError when it is not one)."""
    value = {"decision": decision, "reason": reason, "edits": edits or {}, "reviewer": reviewer,
             "at": datetime.now(UTC).isoformat()}  # fmt: skip
    return parse_decision(value).model_dump()


def record(log: ReviewLog, item_id: str, row: dict[str, Any]) -> None:
    log.record_decision(item_id, row)
    console.print(f"{item_id}: {row['decision']} recorded", markup=False)


def editable_fields(pause: Pause) -> list[str]:
    """The fields an edit of this item may change (its graph's; older pauses did not say: the CS loop's)."""
    return list(pause.payload.get("editable") or EDITABLE)


def show(pause: Pause, position: str) -> None:
    """One waiting item: what the reviewer needs to judge it (a field the item's graph does not have is left out)."""
    p = pause.payload
    console.print(Panel(f"[bold]{p.get('question', '')}[/]", title=f"{position} {pause.item_id} "
                        f"(document {pause.doc_id}, round {p.get('round')})", title_align="left"))  # fmt: skip
    for key, label in (("context", "context"), ("reference_answer", "reference answer")):
        if p.get(key):
            console.print(f"[dim]{label}:[/] {p[key]}", highlight=False)
    if p.get("rubric"):
        rubric = Table("weight", "criterion", title="rubric", title_justify="left")
        for criterion in p["rubric"]:
            rubric.add_row(f"{criterion.get('weight')}", str(criterion.get("criterion")))
        console.print(rubric)
    for role in ("weak", "strong"):
        scores = [a.get("score") for a in p.get(role) or []]
        console.print(f"[dim]{role} scores:[/] {scores}", highlight=False)
    console.print(f"[dim]passed by:[/] {passed_by(p)}", highlight=False)
    if p.get("error"):
        console.print(f"[yellow]the last answer was not applied: {p['error']}[/]", highlight=False)


def passed_by(payload: dict[str, Any]) -> str:
    if payload.get("passed_by"):
        return str(payload["passed_by"])
    rules = sorted({v.get("rule") for v in payload.get("verdicts") or [] if v.get("rule")})
    preset = (payload.get("policy") or {}).get("preset")
    return f"policy {preset}" + (f"; checks {', '.join(rules)}" if rules else "")


def ask_edits(pause: Pause) -> dict[str, Any] | None:
    """The editable fields in $EDITOR as JSON; the changed ones, or None when the editor was left unsaved."""
    current = {name: pause.payload.get(name) for name in editable_fields(pause)}
    text = click.edit(json.dumps(current, indent=2, ensure_ascii=False), extension=".json")
    if text is None:
        return None
    edited = json.loads(text)
    if not isinstance(edited, dict):
        raise ReviewError("the edited text is not a JSON object")
    return {name: value for name, value in edited.items() if current.get(name) != value}


def ask(pause: Pause, reviewer: str) -> dict[str, Any] | None | bool:
    """The reviewer's decision on one item: a decision row, None (skip) or False (quit)."""
    answer = Prompt.ask("[a]pprove, [e]dit, [r]eject, [s]kip, [q]uit", choices=list("aersq"), default="s")
    if answer == "q":
        return False
    if answer == "a":
        return decision_row("approve", reviewer)
    if answer == "r":
        return decision_row("reject", reviewer, reason=Prompt.ask("reason"))
    if answer == "e" and (edits := ask_edits(pause)):
        return decision_row("edit", reviewer, edits=edits)
    return None


def review_interactively(log: ReviewLog, reviewer: str) -> None:
    waiting = log.waiting()
    if not waiting:
        console.print("no item is waiting for review")
        return
    for index, pause in enumerate(waiting, start=1):
        show(pause, f"{index}/{len(waiting)}")
        while True:  # a decision that is not one (an empty reason, a bad edit) is asked again
            try:
                row = ask(pause, reviewer)
                break
            except (ReviewError, ValueError) as exc:
                console.print(f"[yellow]{exc}; try again[/]")
        if row is False:
            return
        if row is not None:
            record(log, pause.item_id, row)


def review(
    run_dir: Annotated[Path, typer.Argument(help="The run directory of a `generate --review` run.")],
    approve: Annotated[list[str] | None, typer.Option("--approve", help="Approve this item id (repeatable).")] = None,
    reject: Annotated[str | None, typer.Option("--reject", help="Reject this item id (needs --reason).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the --reject item is rejected.")] = "",
    edit: Annotated[
        tuple[str, Path] | None,
        typer.Option(
            "--edit",
            help="Keep this item id with the corrected fields in FILE (JSON or TOML: those its graph has: "
            "question, context, reference_answer, rubric for cs-research; question, rubric for legal; question, "
            "context, reference_answer for science); a changed answer or rubric is scored again first.",
        ),
    ] = None,
    reviewer: Annotated[
        str, typer.Option("--reviewer", help="Recorded with each decision (default: $AUTODATA_REVIEWER or $USER).")
    ] = "",
    list_only: Annotated[bool, typer.Option("--list", help="Only list the waiting items.")] = False,
) -> None:
    """Approve, edit or reject the items a `generate --review` run is waiting on; then run `generate` again.

    Exit code 0: recorded; 2: a decision could not be recorded (unknown or already decided item, a bad file)."""
    if not run_dir.is_dir():
        console.print(f"{run_dir}: not a run directory", markup=False)
        raise typer.Exit(2)
    log, name = ReviewLog(run_dir), reviewer or default_reviewer()
    try:
        if list_only:
            for pause in log.waiting():
                typer.echo(f"{pause.item_id}\t{pause.doc_id}\t{pause.payload.get('question', '')}")  # one line each
            return
        scripted = [(item, decision_row("approve", name)) for item in approve or []]
        if reject is not None:
            scripted.append((reject, decision_row("reject", name, reason=reason)))
        if edit is not None:
            edits = read_edits(edit[1])
            check_editable(log, edit[0], edits)
            scripted.append((edit[0], decision_row("edit", name, edits=edits)))
        for item_id, row in scripted:
            record(log, item_id, row)
        if not scripted:
            review_interactively(log, name)
    except (ReviewError, ReviewLogError) as exc:
        console.print(f"review: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.command("review")(review)

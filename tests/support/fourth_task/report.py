"""The glossary task's report section: per run, how its checked rounds ended, and the accepted terms."""

from __future__ import annotations

from collections import Counter

from rich.table import Table

from autodata.engine.rundir import RunData
from autodata.report.sections import HtmlTable, ReportSection
from autodata.report.tables import Report

TITLE = "Glossary: checked rounds and accepted terms"
COLUMNS = ("run", "accepted", "too easy", "too hard", "terms")


def glossary_row(run: RunData) -> list[str] | None:
    """None for a run of another task."""
    if run.config.get("task") != "glossary":
        return None
    outcomes = Counter(r.get("outcome") for t in run.trajectories for r in t.get("rounds") or [])
    terms = ", ".join(sorted(str(item.get("term")) for item in run.items))
    return [run.name, str(outcomes["accepted"]), str(outcomes["too_easy"]), str(outcomes["too_hard"]), terms or "-"]


def glossary_rows(report: Report) -> list[list[str]]:
    return [row for row in map(glossary_row, report.runs) if row is not None]


def glossary_html(report: Report, html_table: HtmlTable) -> str:
    rows = glossary_rows(report)
    return f"<h2>{TITLE}</h2>" + html_table(list(COLUMNS), rows, "glossary-rounds") if rows else ""


def glossary_tables(report: Report) -> list[Table]:
    rows = glossary_rows(report)
    if not rows:
        return []
    table = Table(title=TITLE, title_justify="left")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return [table]


GLOSSARY_REPORT = ReportSection(html=glossary_html, tables=glossary_tables)

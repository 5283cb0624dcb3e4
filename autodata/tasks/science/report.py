"""Report additions for science runs (the science graph's trajectories): correct samples per evaluated
candidate, and which check decided each answer (math-verify, the judge, ...).

Read from trajectories.jsonl only, so every evaluated candidate counts (rejected ones too), not just the
accepted items that the main report's pass counts cover. Runs of other graphs have no such records and are
left out. In a reviewed run (`generate --review`) a winner a reviewer rejected still counts as evaluated, and one
whose reference answer a reviewer edited counts twice (it was evaluated again); the section says how many.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Any

from rich.table import Table

from autodata.engine.rundir import RunData
from autodata.report.sections import HtmlTable, ReportSection

DECIDERS = ("exact_match", "math_verify", "judge", "no_answer", "unscored")
ROLES = ("weak", "strong")


@dataclass
class ScienceChecks:
    run: str
    samples: int
    deciders: Counter  # decided_by -> answers
    correct_counts: dict[str, Counter]  # role -> {correct samples of one candidate: candidates}
    reviewed: Counter  # review rule (review, review_edit) -> rounds a reviewer closed

    @property
    def scored(self) -> int:
        return sum(n for decider, n in self.deciders.items() if decider != "unscored")

    @property
    def judge_share(self) -> float | None:
        return self.deciders["judge"] / self.scored if self.scored else None


def _science_rounds(run: RunData) -> list[dict[str, Any]]:
    return [r for t in run.trajectories for r in t.get("rounds") or [] if "checks" in r and "results" in r]


def science_checks(run: RunData) -> ScienceChecks | None:
    """None for a run that is not a science-graph run."""
    rounds = _science_rounds(run)
    if not rounds:
        return None
    deciders = Counter(check.get("decided_by") for r in rounds for check in r["checks"])
    counts = {role: Counter(int(result[f"{role}_correct"]) for r in rounds for result in r["results"]) for role in ROLES}
    samples = int(run.config.get("context", {}).get("samples") or 0) or max(
        (int(result["weak_samples"]) for r in rounds for result in r["results"]), default=0
    )
    reviewed = Counter(r["rule"] for r in rounds if r.get("rule"))
    return ScienceChecks(run=run.name, samples=samples, deciders=deciders, correct_counts=counts, reviewed=reviewed)


def decider_row(checks: ScienceChecks) -> list[str]:
    share = "–" if checks.judge_share is None else f"{checks.judge_share:.3f}"
    return [checks.run, *(str(checks.deciders.get(d, 0)) for d in DECIDERS), share]


DECIDER_HEADERS = ["run", "identical text", "math-verify", "judge", "no final answer", "not scored", "judge share"]


def correct_count_rows(checks: ScienceChecks) -> list[list[str]]:
    return [
        [checks.run, role, *(str(checks.correct_counts[role].get(c, 0)) for c in range(checks.samples + 1))]
        for role in ROLES
    ]


def review_note(found: list[ScienceChecks]) -> str:
    """What reviewers did to the counted candidates, per reviewed run (empty when nobody reviewed)."""
    notes = [
        f"{c.run}: {c.reviewed['review']} passing candidate(s) rejected by a reviewer, "
        f"{c.reviewed['review_edit']} evaluated again after a reviewer edited the reference answer"
        for c in found if c.reviewed
    ]  # fmt: skip
    return f'<p class="note">Reviewed: {escape("; ".join(notes))}.</p>' if notes else ""


def science_html(runs: list[RunData], html_table: HtmlTable) -> str:
    """The HTML section (empty without science runs); `html_table` is the report's table renderer."""
    found = [c for c in (science_checks(run) for run in runs) if c is not None]
    if not found:
        return ""
    k = max(c.samples for c in found)
    count_rows = [row for c in found for row in correct_count_rows(c)]
    return (
        "<h2>Science: answer checks</h2>"
        '<p class="note">Every sample of every evaluated candidate, accepted or not. Math-verify decides where it '
        "can; the judge compares the final answer with the reference only where math-verify cannot "
        "(phrases, named entities, units). Judge share = judge-decided answers / scored answers.</p>"
        + html_table(DECIDER_HEADERS, [decider_row(c) for c in found], "science-deciders")
        + "<h3>Evaluated candidates by number of correct samples</h3>"
        + html_table(["run", "solver", *(f"{c}/{k} correct" for c in range(k + 1))], count_rows, "science-counts")
        + review_note(found)
    )


def science_table(runs: list[RunData]) -> Table | None:
    found = [c for c in (science_checks(run) for run in runs) if c is not None]
    if not found:
        return None
    table = Table(title="Science: who decided each answer", title_justify="left")
    for header in DECIDER_HEADERS:
        table.add_column(header, justify="left" if header == "run" else "right")
    for checks in found:
        table.add_row(*decider_row(checks))
    return table


SCIENCE_REPORT = ReportSection(
    html=lambda report, html_table: science_html(report.runs, html_table),
    tables=lambda report: [table] if (table := science_table(report.runs)) is not None else [],
)

"""Report additions for legal runs (METHOD.md section 3): the weak samples' spread, the loop judge's
grpo_suitability distribution, and the per-capability table, beside the Table-1 columns.

Suitability comes from each item's own `grpo_suitability` (the agentic legal graph stores the loop judge's
rating there) or, for a baseline run, from `suitability.json`, which `autodata rate-suitability` writes by
putting every baseline item through the same loop judge.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any

from rich.table import Table

from autodata.engine.rundir import RunData
from autodata.report.tables import Report, fmt

LEGAL_TASK = "legal"
SUITABILITY_FILE = "suitability.json"
RATINGS = ("high", "medium", "low")
SPREAD_COLUMNS = (
    "run", "method", "items", "question chars", "criteria/item", "weak std (pts)", "high %", "medium %", "low %",
    "unrated",
)  # fmt: skip
CAPABILITY_COLUMNS = ("capability", "items", "criteria", "weak %", "strong %", "gap %")


@dataclass
class CapabilityAggregate:
    capability: str
    items: int
    criteria: int
    weak_pct: float | None
    strong_pct: float | None

    @property
    def gap_pct(self) -> float | None:
        return None if self.weak_pct is None or self.strong_pct is None else self.strong_pct - self.weak_pct


@dataclass
class LegalRunReport:
    name: str
    method: str
    items: int
    question_chars: float | None = None
    criteria_per_item: float | None = None
    weak_spread: float | None = None  # mean over items of the weak scores' std, in points (0-100)
    suitability: Counter = field(default_factory=Counter)
    capabilities: list[CapabilityAggregate] = field(default_factory=list)

    def share(self, rating: str) -> float | None:
        rated = sum(self.suitability[r] for r in RATINGS)
        return 100.0 * self.suitability[rating] / rated if rated else None


def item_weak_std(item: dict[str, Any]) -> float | None:
    if item.get("weak_std") is not None:
        return float(item["weak_std"])
    scores = [float(s) for s in item.get("weak_scores") or []]
    return statistics.pstdev(scores) if scores else None


def stored_ratings(run: RunData) -> dict[str, str]:
    """item id -> rating from suitability.json (baselines rated afterwards by the loop judge)."""
    path = run.path / SUITABILITY_FILE
    if not path.exists():
        return {}
    ratings = json.loads(path.read_text(encoding="utf-8")).get("ratings") or {}
    return {item_id: entry.get("grpo_suitability") for item_id, entry in ratings.items()}


def suitability_counts(run: RunData) -> Counter:
    stored = stored_ratings(run)
    counts: Counter = Counter()
    for item in run.items:
        rating = item.get("grpo_suitability") or stored.get(item.get("id"))
        counts[rating if rating in RATINGS else "unrated"] += 1
    return counts


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def capability_aggregates(items: list[dict[str, Any]]) -> list[CapabilityAggregate]:
    """Per capability over items: criteria summed, weak/strong % averaged over the items that tag it."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        for row in item.get("capability_table") or []:
            rows[row["capability"]].append(row)
    aggregates = [
        CapabilityAggregate(
            capability=name, items=len(entries), criteria=sum(int(e["criteria"]) for e in entries),
            weak_pct=_mean([e["weak_pct"] for e in entries if e.get("weak_pct") is not None]),
            strong_pct=_mean([e["strong_pct"] for e in entries if e.get("strong_pct") is not None]),
        )  # fmt: skip
        for name, entries in rows.items()
    ]
    return sorted(aggregates, key=lambda a: (a.weak_pct is None, a.weak_pct or 0.0, a.capability))


def legal_run_report(run: RunData) -> LegalRunReport:
    spreads = [s for s in (item_weak_std(item) for item in run.items) if s is not None]
    return LegalRunReport(
        name=run.name,
        method=run.method,
        items=len(run.items),
        question_chars=_mean([float(len(item.get("question") or "")) for item in run.items]),
        criteria_per_item=_mean([float(len(item.get("rubric") or [])) for item in run.items]),
        weak_spread=100.0 * sum(spreads) / len(spreads) if spreads else None,
        suitability=suitability_counts(run),
        capabilities=capability_aggregates(run.items),
    )


def legal_reports(report: Report) -> list[LegalRunReport]:
    return [legal_run_report(run) for run in report.runs if run.task == LEGAL_TASK]


def spread_row(r: LegalRunReport) -> list[str]:
    shares = [fmt(r.share(rating), 1) for rating in RATINGS]
    return [
        r.name, r.method, str(r.items), fmt(r.question_chars, 0), fmt(r.criteria_per_item, 1), fmt(r.weak_spread, 1),
        *shares, str(r.suitability["unrated"]),
    ]  # fmt: skip


def capability_row(a: CapabilityAggregate) -> list[str]:
    return [a.capability, str(a.items), str(a.criteria), fmt(a.weak_pct, 1), fmt(a.strong_pct, 1), fmt(a.gap_pct, 1)]


def legal_html(report: Report, table: Any) -> str:
    """The HTML section (empty without legal runs); `table` is report_html's table renderer."""
    reports = legal_reports(report)
    if not reports:
        return ""
    html = (
        "<h2>Legal: weak-sample spread and GRPO suitability</h2>"
        '<p class="note">weak std = mean over items of the standard deviation of the weak samples\' scores, in '
        "points (0-100): the spread GRPO learns from. Suitability = the loop judge's grpo_suitability rating "
        "(baselines: rated afterwards by the same judge, `autodata rate-suitability`).</p>"
        + table(list(SPREAD_COLUMNS), [spread_row(r) for r in reports], "legal-spread")
    )
    for index, r in enumerate(x for x in reports if x.capabilities):
        html += (f"<h3>Capabilities of {escape(r.name)} (weakest first)</h3>"
                 + table(list(CAPABILITY_COLUMNS), [capability_row(a) for a in r.capabilities], f"legal-caps-{index}"))
    return html


def legal_tables(report: Report) -> list[Table]:
    """The same numbers for the terminal."""
    reports = legal_reports(report)
    if not reports:
        return []
    spread = Table(title="Legal: weak-sample spread and GRPO suitability", title_justify="left")
    for column in SPREAD_COLUMNS:
        spread.add_column(column, justify="left" if column in ("run", "method") else "right")
    for r in reports:
        spread.add_row(*spread_row(r))
    tables = [spread]
    for r in (x for x in reports if x.capabilities):
        caps = Table(title=f"Capabilities of {r.name} (weakest first)", title_justify="left")
        for column in CAPABILITY_COLUMNS:
            caps.add_column(column, justify="left" if column == "capability" else "right")
        for aggregate in r.capabilities:
            caps.add_row(*capability_row(aggregate))
        tables.append(caps)
    return tables

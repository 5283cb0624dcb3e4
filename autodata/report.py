"""`autodata report`: the numbers that compare runs (agentic vs baselines), computed from run directories only.

Inputs per run: items.jsonl, trajectories.jsonl, stats.json, config.json (and annotations.json when
`autodata annotate` has run); optionally eval JSON files written by `autodata eval`. Definitions (see
docs/report.md): an item *meets the policy* when its trajectory's last round ended `accepted`; averages are
means over items of the per-item weak/strong averages; costs are totals over every trajectory of the run
divided by the items that meet the policy (what one usable item cost).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodata.rundir import CONFIG, ITEMS, STATS, TRAJECTORIES, read_jsonl
from autodata.state.schemas import ROLES
from autodata.tasks import TASKS

ANNOTATIONS = "annotations.json"
AGENTIC = "agentic-self-instruct"
ACCEPTED = "accepted"


class ReportError(ValueError):
    """An input of the report is unusable; the message says which and why."""


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from None


@dataclass
class RunData:
    path: Path
    items: list[dict[str, Any]]
    trajectories: list[dict[str, Any]]
    stats: dict[str, Any]
    config: dict[str, Any]
    annotations: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def method(self) -> str:
        for source in (*self.items[:1], self.stats, self.config):
            if source.get("method"):
                return str(source["method"])
        return AGENTIC

    @property
    def task(self) -> str:
        return str(self.stats.get("task") or self.config.get("task") or (self.items[0]["task"] if self.items else ""))

    @property
    def family(self) -> str:
        if self.items:
            return str(self.items[0].get("family", ""))
        spec = TASKS.get(self.task)
        return spec.family.value if spec else ""


def load_run(path: str | Path) -> RunData:
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"run directory not found: {path}")
    if not (path / ITEMS).exists() and not (path / TRAJECTORIES).exists():
        raise ReportError(f"{path} is not a run directory (no {ITEMS} and no {TRAJECTORIES})")
    annotations = _read_json(path / ANNOTATIONS) or None
    return RunData(
        path=path,
        items=list(read_jsonl(path / ITEMS)),
        trajectories=list(read_jsonl(path / TRAJECTORIES)),
        stats=_read_json(path / STATS),
        config=_read_json(path / CONFIG),
        annotations=annotations,
    )


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def final_outcome(trajectory: dict[str, Any]) -> str | None:
    rounds = trajectory.get("rounds") or []
    return rounds[-1].get("outcome") if rounds else None


@dataclass
class RunSummary:
    name: str
    method: str
    task: str
    family: str
    documents: int
    items: int
    weak_avg: float | None
    strong_avg: float | None
    meets_policy: int
    dropped: int
    rounds_per_accepted: Counter
    rejections_by_round: dict[int, Counter]
    usage_totals: dict[str, dict[str, int]]
    weak_item_avgs: list[float] = field(default_factory=list)
    strong_item_avgs: list[float] = field(default_factory=list)
    pass_counts: dict[str, Counter] = field(default_factory=dict)
    samples: int | None = None

    @property
    def gap(self) -> float | None:
        if self.weak_avg is None or self.strong_avg is None:
            return None
        return self.strong_avg - self.weak_avg

    @property
    def meets_policy_fraction(self) -> float | None:
        return self.meets_policy / self.items if self.items else None

    @property
    def policy_yield(self) -> float | None:
        """Items meeting the policy per document processed."""
        return self.meets_policy / self.documents if self.documents else None

    @property
    def mean_rounds_per_accepted(self) -> float | None:
        total = sum(self.rounds_per_accepted.values())
        return sum(r * n for r, n in self.rounds_per_accepted.items()) / total if total else None

    def per_accepted(self, role: str, key: str) -> float | None:
        """Calls or tokens of one role spent per item that meets the policy."""
        if not self.meets_policy:
            return None
        return self.usage_totals.get(role, {}).get(key, 0) / self.meets_policy

    def total_per_accepted(self, key: str) -> float | None:
        if not self.meets_policy:
            return None
        return sum(usage.get(key, 0) for usage in self.usage_totals.values()) / self.meets_policy


def _usage_totals(trajectories: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    totals = {role: {"calls": 0, "failures": 0, "tokens": 0} for role in ROLES}
    for trajectory in trajectories:
        for role, usage in (trajectory.get("usage") or {}).items():
            bucket = totals.setdefault(role, {"calls": 0, "failures": 0, "tokens": 0})
            bucket["calls"] += int(usage.get("calls", 0))
            bucket["failures"] += int(usage.get("failures", 0))
            bucket["tokens"] += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    return totals


def _rejections_by_round(trajectories: list[dict[str, Any]]) -> dict[int, Counter]:
    by_round: dict[int, Counter] = {}
    for trajectory in trajectories:
        for record in trajectory.get("rounds") or []:
            if record.get("outcome") != ACCEPTED:
                by_round.setdefault(int(record.get("round", 0)), Counter())[record.get("outcome")] += 1
    return dict(sorted(by_round.items()))


def _pass_counts(items: list[dict[str, Any]]) -> dict[str, Counter]:
    """Verifiable tasks: how many items had 0, 1, ..., k correct samples, per solver."""
    return {
        role: Counter(sum(1 for s in item.get(f"{role}_scores") or [] if s >= 1.0) for item in items)
        for role in ("weak", "strong")
    }


def summarize(run: RunData, doc_ids: set[str] | None = None) -> RunSummary:
    """The run's numbers; with `doc_ids`, only over those documents (for comparing runs on shared sources)."""
    trajectories = [t for t in run.trajectories if doc_ids is None or t.get("doc_id") in doc_ids]
    items = [i for i in run.items if doc_ids is None or i.get("source_doc_id") in doc_ids]
    by_id = {t.get("id"): t for t in trajectories}
    meeting = [i for i in items if final_outcome(by_id.get(i.get("id"), {})) == ACCEPTED]
    weak = [float(i["weak_avg"]) for i in items if i.get("weak_avg") is not None]
    strong = [float(i["strong_avg"]) for i in items if i.get("strong_avg") is not None]
    samples = run.config.get("context", {}).get("samples")
    return RunSummary(
        name=run.name,
        method=run.method,
        task=run.task,
        family=run.family,
        documents=len(trajectories),
        items=len(items),
        weak_avg=mean(weak),
        strong_avg=mean(strong),
        meets_policy=len(meeting),
        dropped=sum(1 for t in trajectories if t.get("status") == "dropped"),
        rounds_per_accepted=Counter(len(by_id[i["id"]].get("rounds") or []) for i in meeting),
        rejections_by_round=_rejections_by_round(trajectories),
        usage_totals=_usage_totals(trajectories),
        weak_item_avgs=weak,
        strong_item_avgs=strong,
        pass_counts=_pass_counts(items) if run.family == "verifiable" else {},
        samples=samples,
    )


def shared_documents(runs: list[RunData]) -> set[str]:
    """Documents every run processed: the common ground on which runs are compared."""
    sets = [{t.get("doc_id") for t in run.trajectories} for run in runs]
    return set.intersection(*sets) if sets else set()


@dataclass
class Comparison:
    task: str
    shared: set[str]
    all_same: bool
    summaries: list[RunSummary]


def compare(runs: list[RunData]) -> Comparison:
    shared = shared_documents(runs)
    all_same = all({t.get("doc_id") for t in run.trajectories} == shared for run in runs)
    return Comparison(
        task=runs[0].task, shared=shared, all_same=all_same, summaries=[summarize(run, shared) for run in runs]
    )


def comparisons(runs: list[RunData]) -> list[Comparison]:
    """Side-by-side comparisons, one per task that has two or more runs, over the documents they share."""
    by_task: dict[str, list[RunData]] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(run)
    return [compare(group) for group in by_task.values() if len(group) > 1]


# ---- the main table (the shape of the paper's Table 1), shared by the terminal and the HTML ------------------

MAIN_COLUMNS = (
    "run", "method", "task", "documents", "items", "weak avg", "strong avg", "gap", "meets policy",
    "policy items/doc", "rounds/accepted", "dropped",
)  # fmt: skip


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main_row(s: RunSummary) -> list[str]:
    meets = f"{fmt(s.meets_policy_fraction)} ({s.meets_policy}/{s.items})" if s.items else "–"
    return [
        s.name, s.method, s.task, str(s.documents), str(s.items), fmt(s.weak_avg), fmt(s.strong_avg), fmt(s.gap),
        meets, fmt(s.policy_yield), fmt(s.mean_rounds_per_accepted, 2), str(s.dropped),
    ]  # fmt: skip


# ---- eval files (written by `autodata eval`) ------------------------------------------------------------

EVAL_METRICS = ("mean_at_k", "best_at_k", "truncation_rate")


@dataclass
class EvalResult:
    path: Path
    model: str
    k: int | None
    per_task: dict[str, dict[str, Any]]
    overall: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.model} ({self.path.name})" if self.model else self.path.name


def load_eval(path: str | Path) -> EvalResult:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"eval file not found: {path}")
    data = _read_json(path)
    if not isinstance(data.get("per_task"), dict):
        raise ReportError(f"{path}: not an `autodata eval` result (no per_task object)")
    return EvalResult(
        path=path, model=str(data.get("model", "")), k=data.get("k"),
        per_task=data["per_task"], overall=data.get("overall") or {},
    )  # fmt: skip


def eval_rows(evals: list[EvalResult]) -> list[dict[str, Any]]:
    """One row per task (plus `overall`): each file's metrics; with two files, after minus before too."""
    tasks = sorted({task for result in evals for task in result.per_task})
    rows = []
    for task in [*tasks, "overall"]:
        values = [(result.per_task.get(task) if task != "overall" else result.overall) or {} for result in evals]
        row: dict[str, Any] = {"task": task, "n_items": values[-1].get("n_items"), "values": values}
        if len(evals) == 2:
            row["delta"] = {
                metric: values[1][metric] - values[0][metric]
                for metric in EVAL_METRICS
                if isinstance(values[0].get(metric), int | float) and isinstance(values[1].get(metric), int | float)
            }
        rows.append(row)
    return rows


# ---- question-type taxonomy (annotations.json, written by `autodata annotate`) ---------------------------


def type_distribution(annotations: dict[str, Any]) -> list[tuple[str, int]]:
    """(type, count) in the taxonomy's order, then `unclassified` for items whose label could not be parsed."""
    counts = annotations.get("counts") or {}
    rows = [(t["name"], int(counts.get(t["name"], 0))) for t in annotations.get("types") or []]
    unclassified = sum(1 for label in (annotations.get("assignments") or {}).values() if label is None)
    return [*rows, ("unclassified", unclassified)] if unclassified else rows


# ---- the whole report -----------------------------------------------------------------------------------


@dataclass
class Report:
    runs: list[RunData]
    summaries: list[RunSummary]
    comparisons: list[Comparison]
    evals: list[EvalResult]


def build_report(run_paths: list[str | Path], eval_paths: list[str | Path] | None = None) -> Report:
    if not run_paths:
        raise ReportError("give at least one run directory")
    runs = [load_run(path) for path in run_paths]
    evals = [load_eval(path) for path in eval_paths or []]
    return Report(
        runs=runs,
        summaries=[summarize(run) for run in runs],
        comparisons=comparisons(runs),
        evals=evals,
    )

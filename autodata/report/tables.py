"""`autodata report`: the numbers that compare runs (agentic vs baselines), computed from run directories only.

Inputs per run: items.jsonl, trajectories.jsonl, stats.json, config.json (and annotations.json when
`autodata annotate` has run); optionally eval JSON files written by `autodata eval`. Definitions (see
docs/report.md): an item *meets the policy* when its trajectory's last round ended `accepted`; averages are
means over items of the per-item weak/strong averages; costs are totals over every trajectory of the run
divided by the items that meet the policy (what one usable item cost).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autodata.engine.costs import Prices, RunCost, run_cost
from autodata.engine.grading import read_grades
from autodata.engine.reviews import ReviewLog
from autodata.engine.rundir import RunData, RunDataError, load_run, read_json
from autodata.state.schemas import ROLES, RoleUsage
from autodata.state.self_instruct import merge_usage

ACCEPTED = "accepted"


class ReportError(ValueError):
    """An input of the report is unusable; the message says which and why."""


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
    cost: RunCost | None = None  # USD under the prices in config.json (None where a price is not set)

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
    totals = {role: {"calls": 0, "failures": 0, "tokens": 0, "cached_tokens": 0} for role in ROLES}
    for trajectory in trajectories:
        for role, usage in (trajectory.get("usage") or {}).items():
            bucket = totals.setdefault(role, {"calls": 0, "failures": 0, "tokens": 0, "cached_tokens": 0})
            bucket["calls"] += int(usage.get("calls", 0))
            bucket["failures"] += int(usage.get("failures", 0))
            bucket["tokens"] += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
            bucket["cached_tokens"] += int(usage.get("cached_prompt_tokens", 0))
    return totals


def _cost(run: RunData, trajectories: list[dict[str, Any]], accepted: int) -> RunCost:
    """The run's cost under the per-role prices its config.json recorded."""
    usage: dict[str, RoleUsage] = {}
    for trajectory in trajectories:
        usage = merge_usage(usage, trajectory.get("usage") or {})
    roles = (run.config.get("settings") or {}).get("roles") or {}
    prices = {role: Prices.of(roles.get(role) or {}) for role in usage}
    return run_cost(usage, prices, len(trajectories), accepted)


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
        cost=_cost(run, trajectories, len(meeting)),
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


# ---- Table 1 (METHOD.md section 7): fresh-graded scores when `autodata grade` has run ------------------------

TABLE1_COLUMNS = (
    "run", "method", "scores", "items", "weak avg", "strong avg", "gap", "rounds", "question chars", "rubric items",
)  # fmt: skip
FRESH, IN_LOOP = "fresh-graded", "in-loop"


@dataclass
class Table1Row:
    """The paper's Table 1 for one run: scores from grades.jsonl when any of its items has a row, else in-loop."""

    name: str
    method: str
    scores: str  # FRESH or IN_LOOP
    items: int
    graded: int  # items with a grades.jsonl row (FRESH only)
    weak_avg: float | None
    strong_avg: float | None
    rounds: float | None
    question_chars: float | None
    rubric_items: float | None

    @property
    def gap(self) -> float | None:
        return None if self.weak_avg is None or self.strong_avg is None else self.strong_avg - self.weak_avg


def _item_means(items: list[dict[str, Any]], key: str) -> float | None:
    return mean([float(i[key]) for i in items if i.get(key) is not None])


def table1_row(run: RunData, grades: dict[str, dict[str, Any]]) -> Table1Row:
    """Fresh scores are averaged over the run's items that have a grade; the other columns over all its items."""
    graded = [grades[i["id"]] for i in run.items if i.get("id") in grades]
    scored = graded or run.items
    rubric = [float(len(i.get("rubric") or [])) for i in run.items if run.family == "rubric"]
    return Table1Row(
        name=run.name, method=run.method, scores=FRESH if graded else IN_LOOP, items=len(run.items),
        graded=len(graded), weak_avg=_item_means(scored, "weak_avg"), strong_avg=_item_means(scored, "strong_avg"),
        rounds=_item_means(run.items, "rounds"),
        question_chars=mean([float(len(i.get("question") or "")) for i in run.items]), rubric_items=mean(rubric),
    )  # fmt: skip


def table1_cells(row: Table1Row) -> list[str]:
    scores = f"{row.scores} ({row.graded}/{row.items})" if row.scores == FRESH else row.scores
    return [
        row.name, row.method, scores, str(row.items), fmt(row.weak_avg), fmt(row.strong_avg), fmt(row.gap),
        fmt(row.rounds, 2), fmt(row.question_chars, 0), fmt(row.rubric_items, 1),
    ]  # fmt: skip


def table1_note(rows: list[Table1Row]) -> str:
    """Which scores Table 1 shows, in words."""
    fresh = [r.name for r in rows if r.scores == FRESH]
    if not fresh:
        return ("Scores are in-loop (an accepted round's scores were selected to pass, so they run high); run "
                "`autodata grade` on the runs for fresh-graded scores.")  # fmt: skip
    if len(fresh) == len(rows):
        return "Scores are fresh-graded (`autodata grade`: new weak and strong samples, the same judge)."
    return (f"Scores are fresh-graded (`autodata grade`) for {', '.join(fresh)}; in-loop (biased upward for an "
            "agentic run) for the others.")  # fmt: skip


# ---- filter attrition: what each filter removed from a run's set, shown next to Table 1 ---------------------------

ATTRITION_COLUMNS = ("run", "method", "filter", "before", "removed", "after")


@dataclass(frozen=True)
class FilterAttrition:
    """One filter over one run's items: how many went in and how many it kept."""

    run: str
    method: str
    filter: str
    before: int
    after: int

    @property
    def removed(self) -> int:
        return self.before - self.after


def filter_attrition(run: RunData) -> list[FilterAttrition]:
    """The filters a run's set went through, each under its own name, as stats.json counts them."""
    rows = []
    end = run.stats.get("end_filter")
    if end and int(end.get("accepted_in_loop", 0)):
        before, after = int(end["accepted_in_loop"]), int(end["kept_after_filter"])
        name = "end-of-loop filter (accepted in loop -> kept)"
        rows.append(FilterAttrition(run.name, run.method, name, before, after))
    rip = run.stats.get("rip_filter")
    if rip:
        name = f"RIP filter (bottom {float(rip['fraction']):.0%} by {rip['score']})"
        rows.append(FilterAttrition(run.name, run.method, name, int(rip["before"]), int(rip["after"])))
    return rows


def attrition_cells(row: FilterAttrition) -> list[str]:
    return [row.run, row.method, row.filter, str(row.before), str(row.removed), str(row.after)]


# ---- a person's review (generate --review) --------------------------------------------------------------------

REVIEW_COLUMNS = ("run", "approved", "edited", "rejected", "rejection reasons")


@dataclass(frozen=True)
class ReviewCounts:
    """The decisions a run's reviewers took (reviews.jsonl; decisions never applied are left out)."""

    run: str
    approved: int
    edited: int
    rejected: int
    reasons: Counter


def review_counts(run: RunData) -> ReviewCounts | None:
    """None when nobody reviewed the run's items."""
    log = ReviewLog(run.path)
    ignored = log.ignored()
    decisions = [row for key, row in log.decisions().items() if key not in ignored]
    if not decisions:
        return None
    kinds = Counter(row["decision"] for row in decisions)
    reasons = Counter(str(row.get("reason") or "").strip() for row in decisions if row["decision"] == "reject")
    return ReviewCounts(run.name, kinds["approve"], kinds["edit"], kinds["reject"], reasons)


def review_cells(row: ReviewCounts) -> list[str]:
    reasons = "; ".join(f"{reason} ({n})" for reason, n in row.reasons.most_common())
    return [row.run, str(row.approved), str(row.edited), str(row.rejected), reasons or "-"]


# ---- --match-count: compare sets sampled to the same size ------------------------------------------------------


@dataclass
class MatchedCount:
    """The runs of one task, each sampled down to the smallest set's size."""

    task: str
    count: int
    seed: int
    original: dict[str, int]  # run name -> items before sampling

    def note(self) -> str:
        sampled = [f"{name} {n} -> {self.count}" for name, n in self.original.items() if n > self.count]
        detail = f"; sampled: {', '.join(sampled)}" if sampled else ""
        return (f"{self.task}: sets sampled to the same size, {self.count} items per run (deterministic sample, "
                f"seed {self.seed}){detail}.")  # fmt: skip


def sample_items(items: list[dict[str, Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """`count` of `items`, the same ones for the same ids and seed whatever the file order; kept in file order."""
    if len(items) <= count:
        return items
    ordered = sorted(items, key=lambda i: str(i.get("id")))
    chosen = {str(i.get("id")) for i in random.Random(seed).sample(ordered, count)}
    return [i for i in items if str(i.get("id")) in chosen]


def match_counts(runs: list[RunData], seed: int) -> tuple[list[RunData], list[MatchedCount]]:
    """Per task with two or more runs, every run's items sampled down to the smallest run's count."""
    by_task: dict[str, list[RunData]] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(run)
    matched, counts = {}, []
    for task, group in by_task.items():
        if len(group) < 2:
            continue
        count = min(len(run.items) for run in group)
        counts.append(MatchedCount(task, count, seed, {run.name: len(run.items) for run in group}))
        for run in group:
            matched[id(run)] = replace(run, items=sample_items(run.items, count, seed))
    return [matched.get(id(run), run) for run in runs], counts


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
    try:
        data = read_json(path)
    except RunDataError as exc:
        raise ReportError(str(exc)) from None
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
    table1: list[Table1Row] = field(default_factory=list)
    matched: list[MatchedCount] | None = None  # set by --match-count
    attrition: list[FilterAttrition] = field(default_factory=list)  # filters over each run's set, by name
    reviews: list[ReviewCounts] = field(default_factory=list)  # runs a person reviewed (generate --review)


def build_report(
    run_paths: list[str | Path], eval_paths: list[str | Path] | None = None, match_count: bool = False,
    match_seed: int = 0,
) -> Report:
    """With `match_count`, the runs of a task are compared on sets sampled to the same size (`match_counts`)."""
    if not run_paths:
        raise ReportError("give at least one run directory")
    try:
        runs = [load_run(path) for path in run_paths]
    except RunDataError as exc:
        raise ReportError(str(exc)) from None
    evals = [load_eval(path) for path in eval_paths or []]
    matched = None
    if match_count:
        runs, matched = match_counts(runs, match_seed)
    return Report(
        runs=runs,
        summaries=[summarize(run) for run in runs],
        comparisons=comparisons(runs),
        evals=evals,
        table1=[table1_row(run, read_grades(run.path)) for run in runs],
        matched=matched,
        attrition=[row for run in runs for row in filter_attrition(run)],
        reviews=[counts for run in runs if (counts := review_counts(run)) is not None],
    )

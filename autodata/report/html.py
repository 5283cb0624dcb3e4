"""Rendering of the report: PNG plots (matplotlib, Agg canvas) and one self-contained HTML file.

Every plot is written as a PNG file next to the HTML and embedded in it as a base64 data URI, so the HTML
can be mailed or archived alone. No pyplot: figures are built on the Agg canvas directly, which keeps the
rendering free of global state and of any display.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autodata.report.tables import (
    ATTRITION_COLUMNS,
    REVIEW_COLUMNS,
    EVAL_METRICS,
    MAIN_COLUMNS,
    TABLE1_COLUMNS,
    Comparison,
    Report,
    RunSummary,
    eval_rows,
    fmt,
    main_row,
    attrition_cells,
    review_cells,
    table1_cells,
    table1_note,
    type_distribution,
)
from autodata.engine.rundir import RunData
from autodata.report.sections import ReportSection
from autodata.state.schemas import ROLES

HTML_NAME = "report.html"
OUTCOMES = ("too_easy", "failed_on_strong", "failed_quality_check", "model_error")

# ---- plots ----------------------------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _panels(count: int, height: float = 3.0, counts_on: str | None = "y") -> tuple[Figure, list]:
    """One row of `count` axes; the axis named by `counts_on` counts items, so it shows whole numbers only."""
    fig = Figure(figsize=(max(4.5, 4.2 * count), height), layout="constrained")
    axes = list(fig.subplots(1, count, squeeze=False)[0])
    for ax in axes if counts_on else []:
        getattr(ax, f"{counts_on}axis").set_major_locator(MaxNLocator(integer=True))
        ax.margins(**{counts_on: 0.2})
    return fig, axes


def _grouped_bars(ax, labels: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(positions, values, width=width, label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.legend(fontsize=8)


def plot_scores(summaries: list[RunSummary]) -> bytes:
    fig, axes = _panels(len(summaries))
    bins = [i / 10 for i in range(11)]
    for ax, s in zip(axes, summaries, strict=True):
        ax.hist([s.weak_item_avgs, s.strong_item_avgs], bins=bins, label=["weak", "strong"])
        ax.set(title=f"{s.name} ({s.method})", xlabel="per-item average score", ylabel="items", xlim=(0, 1))
        ax.legend(fontsize=8)
    return _png(fig)


def plot_rounds(summaries: list[RunSummary]) -> bytes:
    fig, [ax] = _panels(1)
    rounds = sorted({r for s in summaries for r in s.rounds_per_accepted}) or [1]
    series = {s.name: [s.rounds_per_accepted.get(r, 0) for r in rounds] for s in summaries}
    _grouped_bars(ax, [str(r) for r in rounds], series)
    ax.set(title="Rounds per accepted item", xlabel="rounds", ylabel="items meeting the policy")
    return _png(fig)


def plot_rejections(summaries: list[RunSummary]) -> bytes:
    fig, axes = _panels(len(summaries))
    for ax, s in zip(axes, summaries, strict=True):
        rounds = list(s.rejections_by_round) or [1]
        bottom = [0] * len(rounds)
        for outcome in OUTCOMES:
            counts = [s.rejections_by_round.get(r, {}).get(outcome, 0) for r in rounds]
            ax.bar([str(r) for r in rounds], counts, bottom=bottom, label=outcome.replace("_", " "))
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax.set(title=f"{s.name}: rejections per round", xlabel="round", ylabel="rounds")
        ax.legend(fontsize=7)
    return _png(fig)


def plot_usage(summaries: list[RunSummary]) -> bytes:
    fig, [ax] = _panels(1, counts_on=None)
    series = {s.name: [s.per_accepted(role, "tokens") or 0.0 for role in ROLES] for s in summaries}
    _grouped_bars(ax, list(ROLES), series)
    ax.set(title="Tokens per accepted item, per role", ylabel="tokens")
    return _png(fig)


def plot_pass_counts(summaries: list[RunSummary]) -> bytes:
    fig, axes = _panels(len(summaries))
    for ax, s in zip(axes, summaries, strict=True):
        k = s.samples or max([*s.pass_counts["weak"], *s.pass_counts["strong"], 0])
        correct = list(range(k + 1))
        _grouped_bars(ax, [str(c) for c in correct],
                      {role: [s.pass_counts[role].get(c, 0) for c in correct] for role in ("weak", "strong")})
        ax.set(title=f"{s.name}: correct samples per item", xlabel=f"correct of {k}", ylabel="items")
    return _png(fig)


def plot_question_types(runs: list[RunData]) -> bytes:
    fig, axes = _panels(len(runs), height=3.5, counts_on="x")
    for ax, run in zip(axes, runs, strict=True):
        rows = type_distribution(run.annotations)
        ax.barh([name for name, _ in rows][::-1], [n for _, n in rows][::-1])
        ax.set(title=f"{run.name}: question types", xlabel="items")
    return _png(fig)


def plot_eval(report: Report) -> bytes:
    fig, [ax] = _panels(1, counts_on=None)
    rows = eval_rows(report.evals)
    _grouped_bars(ax, [r["task"] for r in rows],
                  {e.label: [r["values"][i].get("mean_at_k") or 0.0 for r in rows] for i, e in enumerate(report.evals)})
    ax.set(title="Evaluation: mean@k per task", ylabel="mean@k")
    return _png(fig)


def plots(report: Report) -> dict[str, bytes]:
    """File name -> PNG bytes, for the plots this report has data for."""
    summaries = report.summaries
    makers: dict[str, Callable[[], bytes]] = {
        "scores.png": lambda: plot_scores(summaries),
        "rounds_per_accepted.png": lambda: plot_rounds(summaries),
        "rejections_per_round.png": lambda: plot_rejections(summaries),
        "tokens_per_accepted.png": lambda: plot_usage(summaries),
    }
    verifiable = [s for s in summaries if s.pass_counts]
    if verifiable:
        makers["pass_counts.png"] = lambda: plot_pass_counts(verifiable)
    annotated = [run for run in report.runs if run.annotations]
    if annotated:
        makers["question_types.png"] = lambda: plot_question_types(annotated)
    if report.evals:
        makers["eval.png"] = lambda: plot_eval(report)
    return {name: make() for name, make in makers.items()}


# ---- HTML -----------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
.note { color: #555; font-size: 0.9em; }
"""


def html_table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_image(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{escape(name)}" alt="{escape(name)}" src="data:image/png;base64,{data}">'


def _comparison_section(comparison: Comparison) -> str:
    summaries = comparison.summaries
    metrics: list[tuple[str, Callable[[RunSummary], str]]] = [
        ("method", lambda s: s.method),
        ("documents", lambda s: str(s.documents)),
        ("items", lambda s: str(s.items)),
        ("weak avg", lambda s: fmt(s.weak_avg)),
        ("strong avg", lambda s: fmt(s.strong_avg)),
        ("gap", lambda s: fmt(s.gap)),
        ("meets policy", lambda s: fmt(s.meets_policy_fraction)),
        ("policy items/doc", lambda s: fmt(s.policy_yield)),
        ("model calls per accepted item", lambda s: fmt(s.total_per_accepted("calls"), 1)),
        ("tokens per accepted item", lambda s: fmt(s.total_per_accepted("tokens"), 0)),
    ]
    rows = [[label, *(value(s) for s in summaries)] for label, value in metrics]
    if comparison.all_same:
        note = f"All runs processed the same {len(comparison.shared)} documents."
    else:
        note = (f"The runs processed different documents; this comparison uses only the {len(comparison.shared)} "
                "documents every run processed.")  # fmt: skip
    return (
        f"<h3>{escape(comparison.task)}</h3>"
        f'<p class="note">{escape(note)}</p>'
        + html_table(["metric", *(s.name for s in summaries)], rows, f"comparison-{escape(comparison.task)}")
    )


def _table1_section(report: Report) -> str:
    """The paper's Table 1 columns, labelled with the scores shown (fresh-graded or in-loop)."""
    if not report.table1:
        return ""
    return (
        "<h2>Table 1: weak vs strong</h2>"
        f'<p class="note" id="table1-scores">{escape(table1_note(report.table1))} Rounds, question length and '
        "rubric items are means over the run's items.</p>"
        + html_table(list(TABLE1_COLUMNS), [table1_cells(row) for row in report.table1], "table1")
        + _attrition_section(report)
        + _review_section(report)
    )


def _attrition_section(report: Report) -> str:
    """What each filter removed from a run's set after the items were made (Table 1 counts what is left)."""
    if not report.attrition:
        return ""
    return (
        "<h3>Filters</h3>"
        '<p class="note">Each filter over a finished set, under its own name: items before, removed, after.</p>'
        + html_table(list(ATTRITION_COLUMNS), [attrition_cells(row) for row in report.attrition], "attrition")
    )


def _review_section(report: Report) -> str:
    """What the runs' reviewers decided (generate --review)."""
    if not report.reviews:
        return ""
    return (
        "<h3>Review</h3>"
        '<p class="note">A person\'s decisions on the items the loop would keep: approved, edited (kept, an edited '
        "answer or rubric scored again first), rejected (fed back to the loop as a failed round).</p>"
        + html_table(list(REVIEW_COLUMNS), [review_cells(row) for row in report.reviews], "review")
    )


def _matched_note(report: Report) -> str:
    if report.matched is None:
        return ""
    notes = [m.note() for m in report.matched] or ["--match-count: no task has two runs, nothing was sampled."]
    return "".join(f'<p class="note matched">{escape(note)}</p>' for note in notes)


def _comparisons_section(report: Report) -> str:
    if not report.comparisons:
        return ""
    return "<h2>Agentic vs baseline, side by side</h2>" + "".join(_comparison_section(c) for c in report.comparisons)


def _rounds_section(summaries: list[RunSummary], images: dict[str, bytes]) -> str:
    rounds = sorted({r for s in summaries for r in s.rounds_per_accepted})
    rows = [[s.name, *(str(s.rounds_per_accepted.get(r, 0)) for r in rounds), fmt(s.mean_rounds_per_accepted, 2)]
            for s in summaries]  # fmt: skip
    return (
        "<h2>Rounds per accepted item</h2>"
        + html_table(["run", *(f"{r} round{'s' * (r > 1)}" for r in rounds), "mean"], rows, "rounds")
        + html_image("rounds_per_accepted.png", images["rounds_per_accepted.png"])
    )


def _rejections_section(summaries: list[RunSummary], images: dict[str, bytes]) -> str:
    rows = [
        [s.name, str(r), *(str(counts.get(o, 0)) for o in OUTCOMES)]
        for s in summaries
        for r, counts in s.rejections_by_round.items()
    ]
    return (
        "<h2>Rejection reasons per round</h2>"
        '<p class="note">For baselines (one round, no retry) these are the checks a kept item misses, and the '
        "answer-consistency filter's drops count as failed quality checks.</p>"
        + html_table(["run", "round", *(o.replace("_", " ") for o in OUTCOMES)], rows, "rejections")
        + html_image("rejections_per_round.png", images["rejections_per_round.png"])
    )


def _usage_section(summaries: list[RunSummary], images: dict[str, bytes]) -> str:
    rows = [
        [s.name, role, fmt(s.per_accepted(role, "calls"), 1), fmt(s.per_accepted(role, "tokens"), 0),
         str(s.usage_totals.get(role, {}).get("failures", 0))]
        for s in summaries
        for role in ROLES
    ]  # fmt: skip
    return (
        "<h2>Model calls and tokens per accepted item</h2>"
        '<p class="note">Totals over every document of the run divided by the items that meet the policy.</p>'
        + html_table(["run", "role", "calls / accepted", "tokens / accepted", "failed calls"], rows, "usage")
        + html_image("tokens_per_accepted.png", images["tokens_per_accepted.png"])
    )


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _cost_section(summaries: list[RunSummary]) -> str:
    rows = []
    for s in summaries:
        if s.cost is None:
            continue
        for role, cost in s.cost.roles.items():
            tokens = s.usage_totals.get(role, {})
            cached = tokens.get("cached_tokens", 0) / tokens["tokens"] if tokens.get("tokens") else None
            per_item = None if cost is None or not s.meets_policy else cost / s.meets_policy
            rows.append([s.name, role, _usd(cost), _usd(per_item), fmt(cached, 2)])
        rows.append([s.name, "all roles", _usd(s.cost.total), _usd(s.cost.per_accepted_item), "–"])
        rows.append([s.name, "per document", _usd(s.cost.per_document), "", ""])
    return (
        "<h2>Cost</h2>"
        '<p class="note">USD under each role\'s price_input, price_cached_input and price_output (per million tokens, '
        "from config.json); unknown where a price is not set. Cached prompt tokens are those the server read from "
        "its prefix cache (share of the role's tokens).</p>"
        + html_table(["run", "role", "USD", "USD / accepted item", "cached share"], rows, "cost")
    )


def _scores_section(summaries: list[RunSummary], images: dict[str, bytes]) -> str:
    html = "<h2>Score distributions, weak vs strong</h2>" + html_image("scores.png", images["scores.png"])
    verifiable = [s for s in summaries if s.pass_counts]
    if verifiable:
        k = max(s.samples or max([*s.pass_counts["weak"], *s.pass_counts["strong"], 0]) for s in verifiable)
        rows = [[s.name, role, *(str(s.pass_counts[role].get(c, 0)) for c in range(k + 1))]
                for s in verifiable for role in ("weak", "strong")]  # fmt: skip
        html += (
            "<h3>Verifiable tasks: items by number of correct samples</h3>"
            + html_table(["run", "solver", *(f"{c}/{k} correct" for c in range(k + 1))], rows, "pass-counts")
            + html_image("pass_counts.png", images["pass_counts.png"])
        )
    return html


def _types_section(runs: list[RunData], images: dict[str, bytes]) -> str:
    annotated = [run for run in runs if run.annotations]
    if not annotated:
        return ""
    html = "<h2>Question types</h2>"
    for run in annotated:
        a = run.annotations
        total = sum(n for _, n in type_distribution(a)) or 1
        rows = [[name, str(n), fmt(n / total)] for name, n in type_distribution(a)]
        failures = a.get("failures") or {}
        html += (
            f"<h3>{escape(run.name)}</h3>"
            f'<p class="note">Annotated by the {escape(str(a.get("role")))} role ({escape(str(a.get("model")))}); '
            f"{failures.get('classify_parse', 0)} parse failures and {failures.get('classify_call', 0)} failed "
            "calls while classifying (counted as unclassified).</p>"
            + html_table(["type", "items", "share"], rows, f"types-{escape(run.name)}")
        )
    return html + html_image("question_types.png", images["question_types.png"])


EVAL_LABELS = {"mean_at_k": "mean@k", "best_at_k": "best@k", "truncation_rate": "truncation"}


def _eval_section(report: Report, images: dict[str, bytes]) -> str:
    evals = report.evals
    if not evals:
        return ""
    names = ["before", "after"] if len(evals) == 2 else [f"#{i + 1}" for i in range(len(evals))]
    note = "; ".join(f"{name}: {result.label}, k={result.k}" for name, result in zip(names, evals, strict=True))
    headers = ["task", "items"]
    for metric in EVAL_METRICS:
        headers += [f"{EVAL_LABELS[metric]} {name}" for name in names]
        if len(evals) == 2:
            headers.append(f"Δ {EVAL_LABELS[metric]}")
    rows = []
    for row in eval_rows(evals):
        cells = [row["task"], "–" if row["n_items"] is None else str(row["n_items"])]
        for metric in EVAL_METRICS:
            cells += [fmt(values.get(metric)) for values in row["values"]]
            if "delta" in row:
                cells.append(f"{row['delta'][metric]:+.3f}" if metric in row["delta"] else "–")
        rows.append(cells)
    return (
        "<h2>Evaluation</h2>"
        f'<p class="note">{escape(note)}</p>'
        + html_table(headers, rows, "eval")
        + html_image("eval.png", images["eval.png"])
    )


def render_html(report: Report, images: dict[str, bytes], sections: Sequence[ReportSection] = ()) -> str:
    """The page: the common sections, then each task's own (`sections`, from the task registry)."""
    summaries = report.summaries
    runs = "".join(f"<li>{escape(r.name)}: <code>{escape(str(r.path.resolve()))}</code></li>" for r in report.runs)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        "<h1>Autodata report</h1>"
        f'<p class="note">Generated {generated} from {len(report.runs)} run(s):</p><ul>{runs}</ul>'
        "<h2>Runs</h2>"
        '<p class="note">Averages are means over items of each item\'s weak/strong average score; gap = strong − '
        "weak; meets policy = share of items whose last round passed the acceptance policy.</p>"
        + _matched_note(report)
        + html_table(list(MAIN_COLUMNS), [main_row(s) for s in summaries], "main")
        + _table1_section(report)
        + _comparisons_section(report)
        + _rounds_section(summaries, images)
        + _rejections_section(summaries, images)
        + _usage_section(summaries, images)
        + _cost_section(summaries)
        + _scores_section(summaries, images)
        + _types_section(report.runs, images)
        + _eval_section(report, images)
        + "".join(section.html(report, html_table) for section in sections)  # each empty without its task's runs
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Autodata report</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def write_report(report: Report, out_dir: str | Path, sections: Sequence[ReportSection] = ()) -> Path:
    """Write the PNG plots and report.html (with the same plots embedded) into `out_dir`; `sections`: the tasks'
    own report sections."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = plots(report)
    for name, png in images.items():
        (out / name).write_bytes(png)
    target = out / HTML_NAME
    target.write_text(render_html(report, images, sections), encoding="utf-8")
    return target

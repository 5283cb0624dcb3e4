"""What a meta-optimizer run writes beside its checkpoints, rewritten whole from the state after every batch:

    history.jsonl              one line per iteration (line 0: the root)
    versions/<id>/scores.json  each version's score, evaluations and the metric calls it cost
    pass_rate.png              validation pass rate per version with its lineage, the best in the population,
                               and the test pass rate of the final best version and the root
    memory.json, memory.md     what each iteration tried (autodata/meta_memory.py)
    result.json                the outcome: best version, validation beside test, budgets spent, why it
                               stopped, and every kept change to the quality verifier (--open-qv only)

The meta-optimizer graph binds `write_outputs` into its record node (graphs/meta_optimizer.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from autodata.meta.budget import spent
from autodata.meta.memory import MetaMemory, memory_entries
from autodata.prompting.versions import SCORES_FILE, VERSIONS_DIR
from autodata.engine.rundir import write_json_atomic
from autodata.state.meta import Evaluation, MetaState

HISTORY, PLOT, RESULT = "history.jsonl", "pass_rate.png", "result.json"


def _evaluation_row(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {**evaluation.model_dump(), "pass_rate": evaluation.pass_rate}


def _mean_rate(evaluations: list[Evaluation]) -> float | None:
    return sum(e.pass_rate for e in evaluations) / len(evaluations) if evaluations else None


def _mean_gap(evaluations: list[Evaluation]) -> float | None:
    """Mean strong-minus-weak gap over the accepted items of all the runs."""
    accepted = sum(e.accepted for e in evaluations if e.mean_gap is not None)
    total = sum(e.mean_gap * e.accepted for e in evaluations if e.mean_gap is not None)
    return total / accepted if accepted else None


def best_in_population(state: MetaState, iteration: int) -> tuple[str | None, float | None]:
    """The best version admitted by `iteration`, scored on the validation runs made by then."""
    scored = [
        (state.score(v.id, up_to_iteration=iteration), v.id)
        for v in state.population() if v.iteration <= iteration
    ]  # fmt: skip
    scored = [(score, vid) for score, vid in scored if score is not None]
    if not scored:
        return None, None
    score, vid = max(scored, key=lambda pair: (pair[0], -int(pair[1][1:])))
    return vid, score


def history_rows(state: MetaState) -> list[dict[str, Any]]:
    rows = []
    for version in state.versions:
        if version.status == "root":
            root_evals = [e for e in state.evaluations if e.version == version.id and e.iteration == 0
                          and e.split == "validation"]  # fmt: skip
            best_version, best_score = best_in_population(state, 0)
            rows.append({
                "iteration": 0, "version": version.id, "parent": None, "status": "root",
                "val_pass_rate": _mean_rate(root_evals), "mean_gap": _mean_gap(root_evals),
                "validation": [_evaluation_row(e) for e in root_evals], "best_version": best_version,
                "best_score": best_score,
            })  # fmt: skip
    for record in sorted(state.iterations, key=lambda r: r.iteration):
        best_version, best_score = best_in_population(state, record.iteration)
        child, parent = record.child_validations, record.parent_validations
        decision = record.decision
        rows.append({
            "iteration": record.iteration, "version": record.child, "parent": record.parent, "status": record.status,
            # Means over the repeats; `decision` holds each repeat's rate, the seeds and the spread.
            "val_pass_rate": _mean_rate(child), "mean_gap": _mean_gap(child),
            "parent_val_pass_rate": _mean_rate(parent), "parent_mean_gap": _mean_gap(parent),
            "decision": decision.model_dump() if decision else None,
            "minibatch_pass_rate": record.minibatch.pass_rate if record.minibatch else None,
            "screen_pass_rate": record.screen.pass_rate if record.screen else None,
            "files_changed": record.files_changed, "metric_calls": record.metric_calls, "seconds": record.seconds,
            "packing": record.packing, "qv_changes": [change.model_dump() for change in record.qv_changes],
            "rejected_edits": [edit.model_dump() for edit in record.rejected_edits],
            "summary": record.summary, "analysis": record.analysis, "error": record.error,
            "usage": {role: usage.model_dump() for role, usage in record.usage.items()},
            "minibatch": _evaluation_row(record.minibatch), "screen": _evaluation_row(record.screen),
            "parent_validation": [_evaluation_row(e) for e in parent],
            "validation": [_evaluation_row(e) for e in child], "best_version": best_version, "best_score": best_score,
        })  # fmt: skip
    return rows


def write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    tmp = run_dir / f"{HISTORY}.tmp"
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    os.replace(tmp, run_dir / HISTORY)


def metric_calls(state: MetaState, version_id: str, iteration: int) -> int:
    """Document evaluations spent to produce the version: its iteration's, or the root's seed evaluation."""
    if iteration == 0:
        return sum(e.documents for e in state.evaluations if e.iteration == 0 and e.split == "validation")
    return next((r.metric_calls for r in state.iterations if r.iteration == iteration), 0)


def test_pass_rate(state: MetaState, version_id: str) -> float | None:
    runs = [e for e in state.test_evaluations() if e.version == version_id]
    return runs[-1].pass_rate if runs else None


def result(state: MetaState) -> dict[str, Any]:
    best = state.best_version()
    used = spent(state)
    return {
        "best_version": best,
        "best_validation": state.score(best) if best else None,
        "best_test": test_pass_rate(state, best) if best else None,
        "root_validation": state.score("v0000"), "root_test": test_pass_rate(state, "v0000"),
        "stop_reason": state.stop_reason,
        "spent": {"iterations": used.iterations, "model_calls": used.model_calls, "tokens": used.tokens,
                  "seconds": round(used.seconds, 1), "metric_calls": used.metric_calls},
        "qv_changes": [{"iteration": r.iteration, "version": r.child, **change.model_dump()}
                       for r in state.iterations if r.status == "kept" for change in r.qv_changes],
    }  # fmt: skip


def write_version_scores(run_dir: Path, state: MetaState) -> None:
    for version in state.versions:
        validation = [e for e in state.evaluations if e.version == version.id and e.split == "validation"]
        accepted = sum(e.accepted for e in validation)
        gap_sum = sum((e.mean_gap or 0.0) * e.accepted for e in validation)
        write_json_atomic(run_dir / VERSIONS_DIR / version.id / SCORES_FILE, {
            **version.model_dump(),
            "score": state.score(version.id),
            "mean_gap": gap_sum / accepted if accepted else None,
            "metric_calls": metric_calls(state, version.id, version.iteration),
            "test_pass_rate": test_pass_rate(state, version.id),
            "evaluations": [_evaluation_row(e) for e in state.evaluations if e.version == version.id],
        })  # fmt: skip


def _lineage(rows: list[dict[str, Any]]) -> list[tuple[tuple[int, float], tuple[int, float]]]:
    """(parent point, child point) for every kept version: where in the plot each kept child came from."""
    points = {r["version"]: (r["iteration"], r["val_pass_rate"]) for r in rows if r["val_pass_rate"] is not None}
    return [(points[r["parent"]], points[r["version"]]) for r in rows
            if r["status"] == "kept" and r["parent"] in points and r["version"] in points]  # fmt: skip


def plot_pass_rate(rows: list[dict[str, Any]], path: Path, final: dict[str, Any] | None = None) -> None:
    from matplotlib.figure import (
        Figure,  # Agg canvas, no pyplot global state: safe in a server or a thread
    )
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4))
    ax = figure.subplots()
    for index, (start, end) in enumerate(_lineage(rows)):
        ax.plot(*zip(start, end), color="tab:green", alpha=0.4, linewidth=1, label="lineage" if index == 0 else None)
    for status, color, marker in (("root", "black", "s"), ("kept", "tab:green", "o"), ("discarded", "tab:red", "x")):
        points = [(r["iteration"], r["val_pass_rate"]) for r in rows if r["status"] == status]
        points = [(iteration, rate) for iteration, rate in points if rate is not None]
        if points:
            ax.scatter(*zip(*points), color=color, marker=marker, label=f"{status} version", zorder=3)
    best = [(r["iteration"], r["best_score"]) for r in rows if r["best_score"] is not None]
    if best:
        ax.step(*zip(*best), where="post", color="tab:blue", label="best in population")
    last = max((r["iteration"] for r in rows), default=0)
    for key, color, label in (("best_test", "tab:purple", "test: final best"), ("root_test", "gray", "test: root")):
        if final and final.get(key) is not None:
            ax.scatter([last], [final[key]], color=color, marker="*", s=140, label=label, zorder=4)
    ax.set(xlabel="iteration", ylabel="pass rate (validation; test at the end)", ylim=(-0.05, 1.05),
           title="Meta-optimizer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_outputs(run_dir: str | Path, state: MetaState) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = history_rows(state)
    write_history(run_dir, rows)
    MetaMemory(run_dir).replace_all(memory_entries(state.iterations))
    write_version_scores(run_dir, state)
    outcome = result(state)
    write_json_atomic(run_dir / RESULT, outcome)
    plot_pass_rate(rows, run_dir / PLOT, outcome)

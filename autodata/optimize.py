"""Running the meta-optimizer: models for its two extra roles, checkpointed runs that resume, and outputs.

RUN_DIR layout:
    versions/<id>/       prompt files, diff.patch (against the parent), scores.json
    evals/<...>/         one run directory per evaluation (items, trajectories, stats)
    history.jsonl        one line per iteration (line 0: the root), rewritten from the checkpointed state
    pass_rate.png        validation pass rate per version, and the best in the population, by iteration
    checkpoints.sqlite   LangGraph checkpoints; running the same command again resumes
    optimize.json        the options; a resume must use the same task, documents and budgets
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from autodata.prompt_versions import SCORES_FILE, VERSIONS_DIR
from autodata.rundir import write_json_atomic
from autodata.settings import EMBEDDED, RoleConfig, Settings, env_overrides
from autodata.sqlite_saver import InlineSqliteSaver
from autodata.state import meta_state
from autodata.state.meta_state import Evaluation, MetaContext, MetaState
from autodata.state.schemas import RoleUsage

HISTORY, PLOT, CHECKPOINTS, OPTIONS = "history.jsonl", "pass_rate.png", "checkpoints.sqlite", "optimize.json"
META_ROLES = ("analyzer", "implementer")
# The analyzer writes a page of analysis; the implementer returns whole prompt files, so it needs room.
META_ROLE_BUDGETS = {
    "analyzer": {EMBEDDED: {"temperature": 0.3, "max_tokens": 600}, "remote": {"temperature": 0.3, "max_tokens": 2048}},
    "implementer": {EMBEDDED: {"temperature": 0.7, "max_tokens": 2048}, "remote": {"temperature": 0.7, "max_tokens": 8192}},
}
# A resume must not change what is being optimized or how it is measured.
RESUME_KEYS = ("task", "train", "val", "base_prompts", "samples", "max_rounds", "minibatch", "seed")

UpdateHandler = Callable[[tuple[str, ...], dict[str, Any]], None]


class OptimizeError(ValueError):
    pass


def with_meta_roles(settings: Settings, env: Mapping[str, str] | None = None) -> Settings:
    """Add `analyzer` and `implementer` roles: the challenger's endpoint unless AUTODATA_ANALYZER_* /
    AUTODATA_IMPLEMENTER_* variables say otherwise (MODEL, BASE_URL, API_KEY, TEMPERATURE, MAX_TOKENS...)."""
    env = os.environ if env is None else env
    roles = dict(settings.roles)
    for role in META_ROLES:
        base = settings.role("challenger").model_dump()
        overrides = env_overrides(env, f"AUTODATA_{role.upper()}_")
        kind = EMBEDDED if overrides.get("model", base["model"]) == EMBEDDED else "remote"
        roles[role] = RoleConfig.model_validate({**base, **META_ROLE_BUDGETS[role][kind], **overrides})
    return settings.model_copy(update={"roles": roles})


def thread_id(run_dir: str | Path) -> str:
    return f"meta-optimizer:{Path(run_dir).resolve().name}"


def _serializer() -> JsonPlusSerializer:
    """Checkpoints deserialize only this state's own record types (plus LangGraph's safe built-ins)."""
    models = [
        obj for obj in vars(meta_state).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == meta_state.__name__
    ]  # fmt: skip
    return JsonPlusSerializer(allowed_msgpack_modules=[*models, RoleUsage])


def _evaluation_row(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {**evaluation.model_dump(), "pass_rate": evaluation.pass_rate}


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
            root_eval = next((e for e in state.evaluations if e.version == version.id and e.iteration == 0), None)
            best_version, best_score = best_in_population(state, 0)
            rows.append({
                "iteration": 0, "version": version.id, "parent": None, "status": "root",
                "val_pass_rate": root_eval.pass_rate if root_eval else None,
                "mean_gap": root_eval.mean_gap if root_eval else None,
                "validation": _evaluation_row(root_eval), "best_version": best_version, "best_score": best_score,
            })  # fmt: skip
    for record in sorted(state.iterations, key=lambda r: r.iteration):
        best_version, best_score = best_in_population(state, record.iteration)
        child, parent = record.child_validation, record.parent_validation
        rows.append({
            "iteration": record.iteration, "version": record.child, "parent": record.parent, "status": record.status,
            "val_pass_rate": child.pass_rate if child else None, "mean_gap": child.mean_gap if child else None,
            "parent_val_pass_rate": parent.pass_rate if parent else None,
            "parent_mean_gap": parent.mean_gap if parent else None,
            "minibatch_pass_rate": record.minibatch.pass_rate if record.minibatch else None,
            "files_changed": record.files_changed,
            "rejected_edits": [edit.model_dump() for edit in record.rejected_edits],
            "summary": record.summary, "analysis": record.analysis, "error": record.error,
            "usage": {role: usage.model_dump() for role, usage in record.usage.items()},
            "minibatch": _evaluation_row(record.minibatch), "parent_validation": _evaluation_row(parent),
            "validation": _evaluation_row(child), "best_version": best_version, "best_score": best_score,
        })  # fmt: skip
    return rows


def write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    tmp = run_dir / f"{HISTORY}.tmp"
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    os.replace(tmp, run_dir / HISTORY)


def write_version_scores(run_dir: Path, state: MetaState) -> None:
    for version in state.versions:
        validation = [e for e in state.evaluations if e.version == version.id and e.split == "validation"]
        accepted = sum(e.accepted for e in validation)
        gap_sum = sum((e.mean_gap or 0.0) * e.accepted for e in validation)
        write_json_atomic(run_dir / VERSIONS_DIR / version.id / SCORES_FILE, {
            **version.model_dump(),
            "score": state.score(version.id),
            "mean_gap": gap_sum / accepted if accepted else None,
            "evaluations": [_evaluation_row(e) for e in state.evaluations if e.version == version.id],
        })  # fmt: skip


def plot_pass_rate(rows: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.figure import (
        Figure,  # Agg canvas, no pyplot global state: safe in a server or a thread
    )
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4))
    ax = figure.subplots()
    for status, color, marker in (("root", "black", "s"), ("kept", "tab:green", "o"), ("discarded", "tab:red", "x")):
        points = [(r["iteration"], r["val_pass_rate"]) for r in rows if r["status"] == status and r["val_pass_rate"] is not None]
        if points:
            ax.scatter(*zip(*points), color=color, marker=marker, label=f"{status} version", zorder=3)
    best = [(r["iteration"], r["best_score"]) for r in rows if r["best_score"] is not None]
    if best:
        ax.step(*zip(*best), where="post", color="tab:blue", label="best in population")
    ax.set(xlabel="iteration", ylabel="validation pass rate", ylim=(-0.05, 1.05), title="Meta-optimizer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_outputs(run_dir: str | Path, state: MetaState) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = history_rows(state)
    write_history(run_dir, rows)
    write_version_scores(run_dir, state)
    plot_pass_rate(rows, run_dir / PLOT)


def check_options(run_dir: Path, ctx: MetaContext) -> None:
    """Record the options; refuse to resume a run with different ones."""
    wanted = {key: getattr(ctx, key) for key in RESUME_KEYS}
    for key in ("train", "val", "base_prompts"):
        wanted[key] = str(Path(wanted[key]).resolve()) if wanted[key] else None
    path = run_dir / OPTIONS
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        changed = [key for key in RESUME_KEYS if stored.get(key) != wanted[key]]
        if changed:
            details = ", ".join(f"{key}: {stored.get(key)!r} -> {wanted[key]!r}" for key in changed)
            raise OptimizeError(f"{run_dir} holds an optimization with other options ({details}); use a new --out")
    write_json_atomic(path, wanted)


async def _drive(graph: Any, payload: Any, config: dict[str, Any], ctx: MetaContext, on_update: UpdateHandler | None) -> None:
    async for namespace, update in graph.astream(payload, config, context=ctx, stream_mode="updates", subgraphs=True):
        if on_update is not None:
            on_update(namespace, update)


async def run_optimization(ctx: MetaContext, iterations: int, on_update: UpdateHandler | None = None) -> MetaState:
    """Run (or resume) the optimization in ctx.run_dir until `iterations` iterations are recorded.

    An interrupted run continues where its checkpoint stopped; a finished one asked for more iterations
    carries on from its population.
    """
    from autodata.graphs.meta_optimizer import build_meta_optimizer, recursion_limit

    run_dir = Path(ctx.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_options(run_dir, ctx)
    # Closed synchronously on the way out, even when the run is cancelled (Ctrl-C): a resumed run in this
    # process must not find the database still locked by the interrupted one.
    with InlineSqliteSaver.open(run_dir / CHECKPOINTS, serde=_serializer()) as saver:
        graph = build_meta_optimizer().compile(checkpointer=saver, name="meta_optimizer")
        config = {"configurable": {"thread_id": thread_id(run_dir)}, "recursion_limit": recursion_limit(iterations, ctx.workers)}
        if (await graph.aget_state(config)).next:
            await _drive(graph, None, config, ctx, on_update)
        state = MetaState.model_validate((await graph.aget_state(config)).values or {})
        if not state.versions or len(state.iterations) < iterations:
            await _drive(graph, {"target_iterations": iterations}, config, ctx, on_update)
            state = MetaState.model_validate((await graph.aget_state(config)).values)
    write_outputs(run_dir, state)
    return state

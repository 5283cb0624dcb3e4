"""Running the meta-optimizer: models for its two extra roles, checkpointed runs that resume, and outputs.

The caller builds the graph (the task's own graph to evaluate, its prompts, the provider): this module knows
no task and no graph.

RUN_DIR layout:
    versions/<id>/       prompt files, diff.patch (against the parent), scores.json
    evals/<...>/         one run directory per evaluation (items, trajectories, stats)
    history.jsonl        one line per iteration (line 0: the root), rewritten from the checkpointed state
    pass_rate.png        validation pass rate per version with its lineage, the best, and the final test scores
    memory.json/.md      what each iteration tried, read by the analyzer and implementer
    splits.json          which documents are train, validation and test
    result.json          best version, validation beside test, budgets spent, why the run stopped
    checkpoints.sqlite   LangGraph checkpoints; running the same command again resumes
    optimize.json        the options (rounds, repeats, preset, samples...); a resume must use the same task,
                         documents and measurement
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph

from autodata.meta.outputs import HISTORY, PLOT, write_outputs
from autodata.engine.rundir import write_json_atomic
from autodata.llm.settings import EMBEDDED, RoleConfig, Settings, env_overrides
from autodata.engine.checkpoints import InlineSqliteSaver
from autodata.state.meta import MetaContext, MetaState

__all__ = [
    "CHECKPOINTS", "HISTORY", "META_ROLES", "OPTIONS", "PLOT", "GraphBuilder", "OptimizeError", "recursion_limit",
    "run_optimization", "thread_id", "with_meta_roles",
]  # fmt: skip

CHECKPOINTS, OPTIONS = "checkpoints.sqlite", "optimize.json"
META_ROLES = ("analyzer", "implementer")
# The analyzer writes a page of analysis; the implementer returns whole prompt files, so it needs room.
META_ROLE_BUDGETS = {
    "analyzer": {EMBEDDED: {"temperature": 0.3, "max_tokens": 600}, "remote": {"temperature": 0.3, "max_tokens": 2048}},
    "implementer": {EMBEDDED: {"temperature": 0.7, "max_tokens": 2048}, "remote": {"temperature": 0.7, "max_tokens": 8192}},
}
# A resume must not change what is being optimized or how it is measured.
RESUME_KEYS = (
    "task", "train", "val", "base_prompts", "samples", "max_rounds", "repeats", "minibatch", "seed",
    "sources", "train_size", "val_size", "test", "open_qv", "policy_preset", "copy_span",
)  # fmt: skip
PATH_KEYS = ("train", "val", "base_prompts", "sources", "test")
# Recorded beside them for the audit; a resume may change these.
RECORDED_KEYS = ("temperature", "selection", "screen", "workers", "concurrency", "digest_tokens", "memory_chars")

UpdateHandler = Callable[[tuple[str, ...], dict[str, Any]], None]
# Builds the uncompiled meta-optimizer graph for the run's task (graphs/meta_optimizer.py, bound by the caller).
GraphBuilder = Callable[[], StateGraph]


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


def check_options(run_dir: Path, ctx: MetaContext) -> None:
    """Record the options; refuse to resume a run with different ones."""
    wanted = {key: getattr(ctx, key) for key in RESUME_KEYS}
    for key in PATH_KEYS:
        wanted[key] = str(Path(wanted[key]).resolve()) if wanted[key] else None
    path = run_dir / OPTIONS
    if path.exists():
        # A run directory written before an option existed ran with that option's default.
        defaults = {key: None if key in PATH_KEYS else MetaContext.model_fields[key].default for key in RESUME_KEYS}
        stored = {**defaults, **json.loads(path.read_text(encoding="utf-8"))}
        changed = [key for key in RESUME_KEYS if stored.get(key) != wanted[key]]
        if changed:
            details = ", ".join(f"{key}: {stored.get(key)!r} -> {wanted[key]!r}" for key in changed)
            raise OptimizeError(f"{run_dir} holds an optimization with other options ({details}); use a new --out")
    write_json_atomic(path, {**wanted, **{key: getattr(ctx, key) for key in RECORDED_KEYS}})


async def _drive(graph: Any, payload: Any, config: dict[str, Any], ctx: MetaContext, on_update: UpdateHandler | None) -> None:
    async for namespace, update in graph.astream(payload, config, context=ctx, stream_mode="updates", subgraphs=True):
        if on_update is not None:
            on_update(namespace, update)


def recursion_limit(iterations: int, workers: int) -> int:
    """Two outer steps per batch (iterations, record) plus the seed and the final test; subgraph steps count
    separately."""
    return 2 * math.ceil(max(iterations, 1) / max(workers, 1)) + 20


async def run_optimization(
    ctx: MetaContext, iterations: int, build_graph: GraphBuilder, on_update: UpdateHandler | None = None
) -> MetaState:
    """Run (or resume) the optimization in ctx.run_dir until `iterations` iterations are recorded.

    An interrupted run continues where its checkpoint stopped; a finished one asked for more iterations
    carries on from its population.
    """
    run_dir = Path(ctx.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_options(run_dir, ctx)
    # Closed synchronously on the way out, even when the run is cancelled (Ctrl-C): a resumed run in this
    # process must not find the database still locked by the interrupted one.
    with InlineSqliteSaver.open(run_dir / CHECKPOINTS) as saver:
        graph = build_graph().compile(checkpointer=saver, name="meta_optimizer")
        config = {"configurable": {"thread_id": thread_id(run_dir)}, "recursion_limit": recursion_limit(iterations, ctx.workers)}
        if (await graph.aget_state(config)).next:
            await _drive(graph, None, config, ctx, on_update)
        state = MetaState.model_validate((await graph.aget_state(config)).values or {})
        if not state.versions or len(state.iterations) < iterations:
            await _drive(graph, {"target_iterations": iterations}, config, ctx, on_update)
            state = MetaState.model_validate((await graph.aget_state(config)).values)
    write_outputs(run_dir, state)
    return state

"""The baseline graphs, CoT-Self-Instruct and Self-Instruct: wiring only, the logic lives in nodes/.

generate -> [CoT, verifiable tasks: consistency_solver x K -> consistency_filter; dropped -> assess]
-> quality_verifier -> [rubric tasks: end_filter; rejected -> assess] -> weak_solver x k -> score_weak
-> strong_solver x k -> score_strong -> assess.

One pass, no feedback loop. Like the agentic set, a rubric baseline set goes through the end-of-loop filter
(METHOD.md section 6): an item it rejects is not kept, and stats.json counts it under `final_filter`. Every
kept item is scored once by the same solvers, judge and verifier as the agentic loop (the strong solver runs
even when the weak one succeeded, so both averages exist for every item), and `assess` records whether it
meets the acceptance policy.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.engine.batch import BatchSpec
from autodata.engine.records import (
    BaselineStats,
    baseline_item_row,
    baseline_progress,
    baseline_trajectory_extras,
)
from autodata.nodes.shared.common import family_of, run_context
from autodata.nodes.baselines.assess import assess, end_filter_rejected
from autodata.nodes.baselines.consistency import (
    consistency_filter,
    consistency_sample,
    consistency_sends,
)
from autodata.nodes.baselines.generator import make_generator
from autodata.nodes.shared.end_filter import end_filter
from autodata.nodes.shared.quality_verifier import quality_verifier
from autodata.nodes.shared.score_samples import make_scorer
from autodata.nodes.shared.solver import solve, solver_sends
from autodata.state.baselines import BaselineContext, BaselineState, Method
from autodata.state.schemas import TaskFamily

# generate, consistency_solver, consistency_filter, quality_verifier, end_filter, 2 x (solver, scorer), assess.
RECURSION_LIMIT = 20


def _after_generate(cot: bool):
    async def route(state: BaselineState, runtime: Any) -> str | list[Send]:
        if state.item is None:
            return "assess"
        if cot and family_of(run_context(runtime)) is TaskFamily.VERIFIABLE:
            return consistency_sends(state, runtime)
        return "quality_verifier"

    route.__name__ = "after_generate_cot" if cot else "after_generate"
    return route


async def _kept_or_dropped(state: BaselineState) -> str:
    return "quality_verifier" if state.consistency and state.consistency.agrees else "assess"


async def _end_filter_or_solve(state: BaselineState, runtime: Any) -> str | list[Send]:
    if family_of(run_context(runtime)) is TaskFamily.RUBRIC:
        return "end_filter"
    return solver_sends(state, runtime, "weak")


async def _filtered_or_solve(state: BaselineState, runtime: Any) -> str | list[Send]:
    return "assess" if end_filter_rejected(state) else solver_sends(state, runtime, "weak")


def _solve(role: str):
    # Scored once whatever the previous check said: the outcome is decided in `assess`.
    async def route(state: BaselineState, runtime: Any) -> list[Send]:
        return solver_sends(state, runtime, role)

    route.__name__ = f"{role}_solver_sends"
    return route


def build_baseline(method: Method) -> StateGraph:
    cot = method == "cot-self-instruct"
    builder = StateGraph(BaselineState, context_schema=BaselineContext)
    builder.add_node("generate", make_generator(method))
    builder.add_node("quality_verifier", quality_verifier)
    builder.add_node("end_filter", end_filter)
    builder.add_node("weak_solver", solve)
    builder.add_node("score_weak", make_scorer("weak"))
    builder.add_node("strong_solver", solve)
    builder.add_node("score_strong", make_scorer("strong"))
    builder.add_node("assess", assess)

    builder.add_edge(START, "generate")
    targets = ["assess", "quality_verifier"]
    if cot:
        builder.add_node("consistency_solver", consistency_sample)
        builder.add_node("consistency_filter", consistency_filter)
        builder.add_edge("consistency_solver", "consistency_filter")
        builder.add_conditional_edges("consistency_filter", _kept_or_dropped, ["quality_verifier", "assess"])
        targets.append("consistency_solver")
    builder.add_conditional_edges("generate", _after_generate(cot), targets)
    builder.add_conditional_edges("quality_verifier", _end_filter_or_solve, ["end_filter", "weak_solver"])
    builder.add_conditional_edges("end_filter", _filtered_or_solve, ["assess", "weak_solver"])
    builder.add_edge("weak_solver", "score_weak")
    builder.add_conditional_edges("score_weak", _solve("strong"), ["strong_solver"])
    builder.add_edge("strong_solver", "score_strong")
    builder.add_edge("score_strong", "assess")
    builder.add_edge("assess", END)
    return builder


def _graph_name(method: Method) -> str:
    return "cot_self_instruct" if method == "cot-self-instruct" else "self_instruct_baseline"


def compile_baseline(method: Method, **compile_kwargs: Any):
    return build_baseline(method).compile(name=_graph_name(method), **compile_kwargs)


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
cot_self_instruct = compile_baseline("cot-self-instruct")
self_instruct_baseline = compile_baseline("self-instruct")


def baseline_prompt_names(family: str) -> list[str]:
    names = [f"baseline_{family}", f"quality_verifier_{family}", f"solver_{family}"]
    return [*names, "judge_rubric", "end_filter_rubric"] if family == "rubric" else names


def baseline_batch(method: Method) -> BatchSpec:
    """How `autodata baseline` runs one method's graph over documents (rows carry the method's name)."""
    return BatchSpec(
        name=_graph_name(method), run_label=method, build=partial(build_baseline, method), state_type=BaselineState,
        recursion_limit=lambda ctx: RECURSION_LIMIT, prompt_names=lambda task, family: baseline_prompt_names(family),
        item_row=partial(baseline_item_row, method), kept_status="kept",
        trajectory_extras=partial(baseline_trajectory_extras, method), progress_outcome=baseline_progress,
        summary_keys=("status", "usage", "meets_policy"), new_stats=partial(BaselineStats, method=method),
        record_extras={"method": method},
    )  # fmt: skip

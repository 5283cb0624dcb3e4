"""The meta-optimizer: an outer graph that rewrites the inner graph's prompt files and keeps what helps.

seed_population -> record_progress -> [iteration x W] -> record_progress -> ... until the iteration budget.
One iteration (a subgraph, so W run concurrently and each checkpoints its own steps):
select_parent -> evaluate_minibatch -> analyze -> implement -> validate_edits -> evaluate_validation
-> keep_if_better; a failed model call or an edit that does not survive the guard skips straight to
keep_if_better, which records the iteration either way.
"""

from __future__ import annotations

import math

from langgraph.graph import END, START, StateGraph

from autodata.nodes.analyzer import analyze
from autodata.nodes.implementer import implement
from autodata.nodes.meta_check_edits import validate_edits
from autodata.nodes.meta_evaluate_validation import evaluate_validation
from autodata.nodes.meta_keep import keep_if_better
from autodata.nodes.meta_minibatch import evaluate_minibatch
from autodata.nodes.meta_record import next_iterations, record_progress
from autodata.nodes.meta_seed import seed_population
from autodata.nodes.meta_select_parent import select_parent
from autodata.state.meta_state import IterationState, MetaContext, MetaState


def _failed_or(next_node: str):
    async def route(state: IterationState) -> str:
        return "keep_if_better" if state.error else next_node

    route.__name__ = f"failed_or_{next_node}"
    return route


async def _child_or_keep(state: IterationState) -> str:
    return "evaluate_validation" if state.child is not None else "keep_if_better"


def build_iteration() -> StateGraph:
    builder = StateGraph(IterationState, context_schema=MetaContext)
    builder.add_node("select_parent", select_parent)
    builder.add_node("evaluate_minibatch", evaluate_minibatch)
    builder.add_node("analyze", analyze)
    builder.add_node("implement", implement)
    builder.add_node("validate_edits", validate_edits)
    builder.add_node("evaluate_validation", evaluate_validation)
    builder.add_node("keep_if_better", keep_if_better)

    builder.add_edge(START, "select_parent")
    builder.add_edge("select_parent", "evaluate_minibatch")
    builder.add_edge("evaluate_minibatch", "analyze")
    builder.add_conditional_edges("analyze", _failed_or("implement"), ["keep_if_better", "implement"])
    builder.add_conditional_edges("implement", _failed_or("validate_edits"), ["keep_if_better", "validate_edits"])
    builder.add_conditional_edges("validate_edits", _child_or_keep, ["evaluate_validation", "keep_if_better"])
    builder.add_edge("evaluate_validation", "keep_if_better")
    builder.add_edge("keep_if_better", END)
    return builder


def build_meta_optimizer() -> StateGraph:
    builder = StateGraph(MetaState, context_schema=MetaContext)
    builder.add_node("seed_population", seed_population)
    builder.add_node("record_progress", record_progress)
    builder.add_node("iteration", build_iteration().compile(name="meta_iteration"))

    builder.add_edge(START, "seed_population")
    builder.add_edge("seed_population", "record_progress")
    builder.add_conditional_edges("record_progress", next_iterations, ["iteration", END])
    builder.add_edge("iteration", "record_progress")
    return builder


def recursion_limit(iterations: int, workers: int) -> int:
    """Two outer steps per batch (iterations, record) plus the seed; subgraph steps count separately."""
    return 2 * math.ceil(max(iterations, 1) / max(workers, 1)) + 20


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
graph = build_meta_optimizer().compile(name="meta_optimizer")

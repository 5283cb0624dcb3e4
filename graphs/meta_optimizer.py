"""The meta-optimizer: an outer graph that rewrites the inner graph's prompt files and keeps what helps.

seed_population -> record_progress -> [iteration x W] -> record_progress -> ... until a budget (iterations,
model calls, tokens, wall time) is used up -> final_test (best and root on the test split) -> record_final.
One iteration (a subgraph, so W run concurrently and each checkpoints its own steps):
select_parent -> evaluate_minibatch -> analyze -> implement -> validate_edits -> screen_child
-> evaluate_validation -> keep_if_better; a failed model call or an edit that does not survive the guards
skips straight to keep_if_better, which records the iteration either way, and so does a child that does not
beat its parent on the parent's failed minibatch documents (no validation run is spent on it).

The builder injects what the nodes use: what they evaluate (the optimized task's own BatchSpec, run by the
batch engine, or any batch job), the task's prompts (which of them may be edited), the model provider and
the writer of the run's files. It knows no task: the caller looks the task up (autodata/commands/optimize.py),
and so does the graph `langgraph dev` serves.
"""

from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph

from autodata.engine.batch import BatchJob, BatchSpec, batch_job
from autodata.llm.models import ModelProvider
from autodata.meta.outputs import write_outputs
from autodata.nodes.meta.analyzer import analyze
from autodata.nodes.meta.check_edits import validate_edits
from autodata.nodes.meta.common import MetaServices
from autodata.nodes.meta.evaluate_validation import evaluate_validation
from autodata.nodes.meta.final_test import final_test
from autodata.nodes.meta.implementer import implement
from autodata.nodes.meta.keep import keep_if_better
from autodata.nodes.meta.minibatch import evaluate_minibatch
from autodata.nodes.meta.record import OutputWriter, make_record_progress, next_iterations
from autodata.nodes.meta.screen import passed_screen, screen_child
from autodata.nodes.meta.seed import seed_population
from autodata.nodes.meta.select_parent import select_parent
from autodata.prompting.versions import PromptScope
from autodata.state.meta import IterationState, MetaContext, MetaState


def _failed_or(next_node: str):
    async def route(state: IterationState) -> str:
        return "keep_if_better" if state.error else next_node

    route.__name__ = f"failed_or_{next_node}"
    return route


async def _child_or_keep(state: IterationState) -> str:
    return "screen_child" if state.child is not None else "keep_if_better"


async def _screened(state: IterationState) -> str:
    return "evaluate_validation" if passed_screen(state) else "keep_if_better"


def build_iteration(services: MetaServices) -> StateGraph:
    builder = StateGraph(IterationState, context_schema=MetaContext)
    builder.add_node("select_parent", select_parent)
    builder.add_node("evaluate_minibatch", partial(evaluate_minibatch, services=services))
    builder.add_node("analyze", partial(analyze, services=services))
    builder.add_node("implement", partial(implement, services=services))
    builder.add_node("validate_edits", partial(validate_edits, services=services))
    builder.add_node("screen_child", partial(screen_child, services=services))
    builder.add_node("evaluate_validation", partial(evaluate_validation, services=services))
    builder.add_node("keep_if_better", partial(keep_if_better, services=services))

    builder.add_edge(START, "select_parent")
    builder.add_edge("select_parent", "evaluate_minibatch")
    builder.add_edge("evaluate_minibatch", "analyze")
    builder.add_conditional_edges("analyze", _failed_or("implement"), ["keep_if_better", "implement"])
    builder.add_conditional_edges("implement", _failed_or("validate_edits"), ["keep_if_better", "validate_edits"])
    builder.add_conditional_edges("validate_edits", _child_or_keep, ["screen_child", "keep_if_better"])
    builder.add_conditional_edges("screen_child", _screened, ["evaluate_validation", "keep_if_better"])
    builder.add_edge("evaluate_validation", "keep_if_better")
    builder.add_edge("keep_if_better", END)
    return builder


def build_meta_optimizer(
    evaluate: BatchSpec | BatchJob, prompts: PromptScope, provider: ModelProvider, write: OutputWriter = write_outputs
) -> StateGraph:
    """The outer graph over one task: `evaluate` runs a version's prompts over documents (the task's BatchSpec,
    or a batch job wrapping one), `prompts` are the files that task's graph reads and which may be edited."""
    run_batch = batch_job(evaluate) if isinstance(evaluate, BatchSpec) else evaluate
    services = MetaServices(provider=provider, run_batch=run_batch, prompts=prompts)
    builder = StateGraph(MetaState, context_schema=MetaContext)
    builder.add_node("seed_population", partial(seed_population, services=services))
    builder.add_node("record_progress", make_record_progress(write))
    builder.add_node("iteration", build_iteration(services).compile(name="meta_iteration"))
    builder.add_node("final_test", partial(final_test, services=services))
    builder.add_node("record_final", make_record_progress(write))

    builder.add_edge(START, "seed_population")
    builder.add_edge("seed_population", "record_progress")
    builder.add_conditional_edges("record_progress", next_iterations, ["iteration", "final_test"])
    builder.add_edge("iteration", "record_progress")
    builder.add_edge("final_test", "record_final")
    builder.add_edge("record_final", END)
    return builder


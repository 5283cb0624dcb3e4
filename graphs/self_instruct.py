"""The inner Agentic Self-Instruct graph: wiring only, the logic lives in nodes/.

challenger -> quality_verifier -> weak_solver x k -> score_weak -> (weak failed) strong_solver x k
-> score_strong -> acceptance -> end_filter -> review -> accept; any failed check -> orchestrator, which
writes grouped feedback and sends the challenger round again until the round budget is spent.
The end-of-loop filter removes, it does not teach: an item it rejects goes to `filtered` and the document ends,
unless the run sets `policy.end_filter_feedback` (then the rejection is fed back like any failed round).
With `review` set in the run's context, `review` pauses the thread (interrupt) for a person's decision: approve
or edit goes on to accept, reject goes to the orchestrator like a failed round, and an edited answer or rubric
goes back to quality_verifier as the next round's item, to be scored again before it is kept.

The builder binds the model provider to the nodes that call models.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.self_instruct.acceptance import acceptance
from autodata.nodes.self_instruct.challenger import challenger
from autodata.nodes.shared.end_filter import end_filter
from autodata.nodes.self_instruct.orchestrator import accept, drop_filtered, orchestrator
from autodata.nodes.shared.quality_verifier import quality_verifier
from autodata.nodes.self_instruct.review import after_review, review
from autodata.nodes.shared.score_samples import make_scorer
from autodata.nodes.shared.solver import solve, solver_sends
from autodata.rules.format_rules import RESEARCH_QUESTION_TYPES
from autodata.nodes.shared.common import run_context
from autodata.state.context import RunContext
from autodata.state.schemas import RoundOutcome
from autodata.state.self_instruct import SelfInstructState

STEPS_PER_ROUND = 10


def _failed_or(next_node: str):
    async def route(state: SelfInstructState) -> str:
        return "orchestrator" if state.outcome is not None else next_node

    route.__name__ = f"failed_or_{next_node}"
    return route


def _failed_or_solve(role: str):
    async def route(state: SelfInstructState, runtime: Any) -> str | list[Send]:
        return "orchestrator" if state.outcome is not None else solver_sends(state, runtime, role)

    route.__name__ = f"failed_or_{role}_solver"
    return route


async def _after_end_filter(state: SelfInstructState, runtime: Any) -> str:
    if state.outcome is None:
        return "review"
    removed = state.outcome is RoundOutcome.FAILED_QUALITY_CHECK  # a model error is retried as a new round
    return "filtered" if removed and not run_context(runtime).policy.end_filter_feedback else "orchestrator"


async def _next_round_or_end(state: SelfInstructState) -> str:
    return END if state.status == "exhausted" else "challenger"


def build_self_instruct(provider: ModelProvider) -> StateGraph:
    builder = StateGraph(SelfInstructState, context_schema=RunContext)
    builder.add_node("challenger", partial(challenger, provider=provider))
    builder.add_node(
        "quality_verifier", partial(quality_verifier, provider=provider, question_types=RESEARCH_QUESTION_TYPES)
    )
    builder.add_node("weak_solver", partial(solve, provider=provider))
    builder.add_node("score_weak", make_scorer("weak", provider))
    builder.add_node("strong_solver", partial(solve, provider=provider))
    builder.add_node("score_strong", make_scorer("strong", provider))
    builder.add_node("acceptance", acceptance)
    builder.add_node("end_filter", partial(end_filter, provider=provider))
    builder.add_node("review", review)  # pauses for a person only when the run's context sets `review`
    builder.add_node("accept", accept)
    builder.add_node("filtered", drop_filtered)
    builder.add_node("orchestrator", partial(orchestrator, provider=provider))

    builder.add_edge(START, "challenger")
    builder.add_conditional_edges("challenger", _failed_or("quality_verifier"), ["orchestrator", "quality_verifier"])
    builder.add_conditional_edges("quality_verifier", _failed_or_solve("weak"), ["orchestrator", "weak_solver"])
    builder.add_edge("weak_solver", "score_weak")
    builder.add_conditional_edges("score_weak", _failed_or_solve("strong"), ["orchestrator", "strong_solver"])
    builder.add_edge("strong_solver", "score_strong")
    builder.add_edge("score_strong", "acceptance")
    builder.add_conditional_edges("acceptance", _failed_or("end_filter"), ["orchestrator", "end_filter"])
    builder.add_conditional_edges("end_filter", _after_end_filter, ["orchestrator", "review", "filtered"])
    builder.add_conditional_edges(
        "review", after_review,
        {"orchestrator": "orchestrator", "accept": "accept", "rescore": "quality_verifier", "exhausted": END},
    )  # fmt: skip
    builder.add_edge("accept", END)
    builder.add_edge("filtered", END)
    builder.add_conditional_edges("orchestrator", _next_round_or_end, ["challenger", END])
    return builder


def recursion_limit(max_rounds: int) -> int:
    return STEPS_PER_ROUND * max_rounds + 10


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
# Settings are read, and an embedded server started, on the first model call, not at import.
graph = build_self_instruct(ModelProvider.from_environment()).compile(name="self_instruct")

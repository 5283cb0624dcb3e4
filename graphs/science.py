"""The science graph (METHOD.md §4): parallel challengers, a screen, exact-count evaluation, a diagnosis.

start_round -> challenger x candidates (Send) -> screen -> solver x (evaluate_top x (k weak + k strong)) (Send)
-> check_answers -> review -> decide -> END on acceptance; otherwise -> diagnose -> start_round until the budget
is spent. A round with no well-formed candidate goes from the screen straight to the diagnosis.
With `review` set in the run's context, `review` pauses the thread (interrupt) on the candidate the round would
keep, for a person's decision that `decide` applies: approve or a question/context edit keeps it, reject goes to
the diagnosis like a failed round, and an edited reference answer goes back to start_round: the next round has
the edited item as its only candidate and goes straight to the solvers, so it is scored again before it is kept.
The builder binds the model provider to the nodes that call models.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.science.challenger import science_challenger
from autodata.nodes.science.check import check_answers
from autodata.nodes.science.decide import after_decide, decide
from autodata.nodes.science.diagnosis import diagnose
from autodata.nodes.science.review import review
from autodata.nodes.science.round import round_sends, start_round
from autodata.nodes.science.screen import screen
from autodata.nodes.science.solver import science_solve, science_solver_sends
from autodata.state.science import ScienceContext, ScienceState

GRAPH_NAME = "science_reasoning"
STEPS_PER_ROUND = 8


async def _diagnose_or_solve(state: ScienceState, runtime: Any) -> str | list[Send]:
    return "diagnose" if state.outcome is not None else science_solver_sends(state, runtime)


async def _next_round_or_end(state: ScienceState) -> str:
    return END if state.status == "exhausted" else "start_round"


def build_science(provider: ModelProvider) -> StateGraph:
    builder = StateGraph(ScienceState, context_schema=ScienceContext)
    builder.add_node("start_round", start_round)
    builder.add_node("challenger", partial(science_challenger, provider=provider))
    builder.add_node("screen", partial(screen, provider=provider))
    builder.add_node("solver", partial(science_solve, provider=provider))
    builder.add_node("check_answers", partial(check_answers, provider=provider))
    builder.add_node("review", review)  # pauses for a person only when the run's context sets `review`
    builder.add_node("decide", decide)
    builder.add_node("diagnose", partial(diagnose, provider=provider))

    builder.add_edge(START, "start_round")
    builder.add_conditional_edges("start_round", round_sends, ["challenger", "solver"])
    builder.add_edge("challenger", "screen")
    builder.add_conditional_edges("screen", _diagnose_or_solve, ["diagnose", "solver"])
    builder.add_edge("solver", "check_answers")
    builder.add_edge("check_answers", "review")
    builder.add_edge("review", "decide")
    builder.add_conditional_edges("decide", after_decide, [END, "diagnose", "start_round"])
    builder.add_conditional_edges("diagnose", _next_round_or_end, ["start_round", END])
    return builder


def recursion_limit(max_rounds: int) -> int:
    return STEPS_PER_ROUND * max_rounds + 10


# Served by `langgraph dev` (langgraph.json, `science_reasoning`): compiled without a checkpointer. Settings are
# read, and an embedded server started, on the first model call, not at import.
graph = build_science(ModelProvider.from_environment()).compile(name=GRAPH_NAME)

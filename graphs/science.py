"""The science graph (METHOD.md §4): parallel challengers, a screen, exact-count evaluation, a diagnosis.

start_round -> challenger x candidates (Send) -> screen -> solver x (evaluate_top x (k weak + k strong)) (Send)
-> check_answers -> decide -> END on acceptance; otherwise -> diagnose -> start_round until the budget is spent.
A round with no well-formed candidate goes from the screen straight to the diagnosis.
The builder binds the model provider to the nodes that call models.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.science.challenger import challenger_sends, science_challenger
from autodata.nodes.science.check import check_answers
from autodata.nodes.science.decide import decide
from autodata.nodes.science.diagnosis import diagnose
from autodata.nodes.science.round import start_round
from autodata.nodes.science.screen import screen
from autodata.nodes.science.solver import science_solve, science_solver_sends
from autodata.state.science import ScienceContext, ScienceState

GRAPH_NAME = "science_reasoning"
STEPS_PER_ROUND = 7


async def _diagnose_or_solve(state: ScienceState, runtime: Any) -> str | list[Send]:
    return "diagnose" if state.outcome is not None else science_solver_sends(state, runtime)


async def _accepted_or_diagnose(state: ScienceState) -> str:
    return END if state.status == "accepted" else "diagnose"


async def _next_round_or_end(state: ScienceState) -> str:
    return END if state.status == "exhausted" else "start_round"


def build_science(provider: ModelProvider) -> StateGraph:
    builder = StateGraph(ScienceState, context_schema=ScienceContext)
    builder.add_node("start_round", start_round)
    builder.add_node("challenger", partial(science_challenger, provider=provider))
    builder.add_node("screen", partial(screen, provider=provider))
    builder.add_node("solver", partial(science_solve, provider=provider))
    builder.add_node("check_answers", partial(check_answers, provider=provider))
    builder.add_node("decide", decide)
    builder.add_node("diagnose", partial(diagnose, provider=provider))

    builder.add_edge(START, "start_round")
    builder.add_conditional_edges("start_round", challenger_sends, ["challenger"])
    builder.add_edge("challenger", "screen")
    builder.add_conditional_edges("screen", _diagnose_or_solve, ["diagnose", "solver"])
    builder.add_edge("solver", "check_answers")
    builder.add_edge("check_answers", "decide")
    builder.add_conditional_edges("decide", _accepted_or_diagnose, [END, "diagnose"])
    builder.add_conditional_edges("diagnose", _next_round_or_end, ["start_round", END])
    return builder


def recursion_limit(max_rounds: int) -> int:
    return STEPS_PER_ROUND * max_rounds + 10


# Served by `langgraph dev` (langgraph.json, `science_reasoning`): compiled without a checkpointer. Settings are
# read, and an embedded server started, on the first model call, not at import.
graph = build_science(ModelProvider.from_environment()).compile(name=GRAPH_NAME)

"""The glossary graph, wiring only: writer -> checker -> (not accepted and rounds left: writer) | END."""

from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph

from autodata.llm.models import ModelProvider
from tests.support.fourth_task.nodes import check_entry, write_entry
from tests.support.fourth_task.state import GlossaryContext, GlossaryState

GRAPH_NAME = "glossary"
STEPS_PER_ROUND = 2


async def _next_round_or_end(state: GlossaryState) -> str:
    return "writer" if state.status == "running" else END


def build_glossary(provider: ModelProvider) -> StateGraph:
    builder = StateGraph(GlossaryState, context_schema=GlossaryContext)
    builder.add_node("writer", partial(write_entry, provider=provider))
    builder.add_node("checker", partial(check_entry, provider=provider))
    builder.add_edge(START, "writer")
    builder.add_edge("writer", "checker")
    builder.add_conditional_edges("checker", _next_round_or_end, ["writer", END])
    return builder


def recursion_limit(max_rounds: int) -> int:
    return STEPS_PER_ROUND * max_rounds + 5

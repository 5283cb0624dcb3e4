"""The legal reasoning graph (METHOD.md section 3): wiring only, the logic lives in nodes/.

extractor -> (unsuitable: END, skipped) writer -> (shape violation or model error: decide)
weak x weak_samples + strong x strong_samples solvers -> grade -> diagnose -> loop_judge -> review -> decide
-> (improve and budget left: writer; a reviewer's edited rubric: edited_round) | END.
With `review` set in the run's context, `review` pauses the thread (interrupt) where the round would be accepted,
for a person's decision, which `decide` applies; an edited rubric is scored again as the next round's item:
edited_round starts that round in place of the writer. The builder binds the model provider to the nodes that
call models.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.legal.decide import decide
from autodata.nodes.legal.diagnose import diagnose
from autodata.nodes.legal.extractor import extract
from autodata.nodes.legal.grade import evaluation_sends, grade_samples
from autodata.nodes.legal.loop_judge import loop_judge
from autodata.nodes.legal.review import edited_round, review
from autodata.nodes.legal.writer import write_item
from autodata.nodes.shared.solver import solve
from autodata.state.legal import LegalContext, LegalState

GRAPH_NAME = "legal_reasoning"
# writer (or edited_round), solver, grade, diagnose, loop_judge, review, decide.
STEPS_PER_ROUND = 7


async def _suitable_or_end(state: LegalState) -> str:
    return "writer" if state.status == "running" else END  # skipped, or an extract still malformed


async def _evaluate_or_decide(state: LegalState, runtime: Any) -> str | list[Send]:
    if state.round_error or state.shape_violations or state.item is None:
        return "decide"
    return evaluation_sends(state, runtime, "solver")


async def _graded_or_decide(state: LegalState) -> str:
    return "decide" if state.round_error else "diagnose"


async def _next_round_or_end(state: LegalState) -> str:
    if state.status != "running":
        return END
    return "edited_round" if state.edited_item is not None else "writer"


def build_legal(provider: ModelProvider) -> StateGraph:
    builder = StateGraph(LegalState, context_schema=LegalContext)
    builder.add_node("extractor", partial(extract, provider=provider))
    builder.add_node("writer", partial(write_item, provider=provider))
    builder.add_node("solver", partial(solve, provider=provider))
    builder.add_node("grade", partial(grade_samples, provider=provider))
    builder.add_node("diagnose", diagnose)
    builder.add_node("loop_judge", partial(loop_judge, provider=provider))
    builder.add_node("review", review)  # pauses for a person only when the run's context sets `review`
    builder.add_node("decide", decide)
    builder.add_node("edited_round", edited_round)

    builder.add_edge(START, "extractor")
    builder.add_conditional_edges("extractor", _suitable_or_end, ["writer", END])
    builder.add_conditional_edges("writer", _evaluate_or_decide, ["solver", "decide"])
    builder.add_edge("solver", "grade")
    builder.add_conditional_edges("grade", _graded_or_decide, ["diagnose", "decide"])
    builder.add_edge("diagnose", "loop_judge")
    builder.add_edge("loop_judge", "review")
    builder.add_edge("review", "decide")
    builder.add_conditional_edges("decide", _next_round_or_end, ["writer", "edited_round", END])
    builder.add_conditional_edges("edited_round", _evaluate_or_decide, ["solver", "decide"])
    return builder


def recursion_limit(max_improve_rounds: int) -> int:
    return STEPS_PER_ROUND * (max_improve_rounds + 1) + 10


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
# Settings are read, and an embedded server started, on the first model call, not at import.
graph = build_legal(ModelProvider.from_environment()).compile(name=GRAPH_NAME)

"""The science graph (METHOD.md §4): parallel challengers, a screen, exact-count evaluation, a diagnosis.

start_round -> challenger x candidates (Send) -> screen -> solver x (evaluate_top x (k weak + k strong)) (Send)
-> check_answers -> decide -> END on acceptance; otherwise -> diagnose -> start_round until the budget is spent.
A round with no well-formed candidate goes from the screen straight to the diagnosis.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.engine.batch import BatchSpec, GenerateOptions
from autodata.engine.records import RunFacts, provenance_columns
from autodata.nodes.science.challenger import challenger_sends, science_challenger
from autodata.nodes.science.check import check_answers
from autodata.nodes.science.decide import decide
from autodata.nodes.science.diagnosis import diagnose
from autodata.nodes.science.round import start_round
from autodata.nodes.science.screen import screen
from autodata.nodes.science.solver import science_solve, science_solver_sends
from autodata.state.schemas import SourceDocument
from autodata.state.science import ScienceContext, ScienceState

STEPS_PER_ROUND = 7


async def _diagnose_or_solve(state: ScienceState, runtime: Any) -> str | list[Send]:
    return "diagnose" if state.outcome is not None else science_solver_sends(state, runtime)


async def _accepted_or_diagnose(state: ScienceState) -> str:
    return END if state.status == "accepted" else "diagnose"


async def _next_round_or_end(state: ScienceState) -> str:
    return END if state.status == "exhausted" else "start_round"


def build_science() -> StateGraph:
    builder = StateGraph(ScienceState, context_schema=ScienceContext)
    builder.add_node("start_round", start_round)
    builder.add_node("challenger", science_challenger)
    builder.add_node("screen", screen)
    builder.add_node("solver", science_solve)
    builder.add_node("check_answers", check_answers)
    builder.add_node("decide", decide)
    builder.add_node("diagnose", diagnose)

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


# Served by `langgraph dev` (langgraph.json, `science_reasoning`): compiled without a checkpointer.
graph = build_science().compile(name="science_reasoning")


def science_item_row(state: ScienceState, doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    """items.jsonl row of a science item: the common columns plus the candidate's labels, its exact counts and
    which check decided its samples."""
    item, candidate, final = state.accepted_item, state.accepted, state.rounds[-1]
    checks = [c for c in final.checks if c.candidate == final.accepted_candidate]
    result = next(r for r in final.results if r.candidate == final.accepted_candidate)

    def scores(role: str) -> list[float]:
        return [1.0 if c.correct else 0.0 for c in sorted(checks, key=lambda c: c.sample_index) if c.role == role]

    return {
        **provenance_columns(doc, run),
        "method": "agentic-self-instruct",
        "context": item.context,
        "question": item.question,
        "reference_answer": item.reference_answer,
        "rubric": [],
        "question_type": candidate.question_type,
        "reasoning_skills": candidate.reasoning_skills,
        "strategy": candidate.strategy,
        "format_flags": candidate.format_flags,
        "rounds": len(state.rounds),
        "weak_scores": scores("weak"),
        "strong_scores": scores("strong"),
        "weak_correct": result.weak_correct,
        "strong_correct": result.strong_correct,
        "weak_avg": final.weak_avg,
        "strong_avg": final.strong_avg,
        "gap": (final.strong_avg or 0.0) - (final.weak_avg or 0.0),
        "decided_by": dict(Counter(c.decided_by for c in checks)),
        "quality": [],  # no quality-verifier model in this graph: its format rules are checked in code
    }


SCIENCE_PROMPTS = ["challenger_science", "screen_science", "diagnosis_science", "solver_verifiable", "judge_answer"]

def science_context(options: GenerateOptions) -> ScienceContext:
    """The run context widened with the science graph's own knobs (the TOML's [science] section)."""
    return ScienceContext.model_validate({**options.graph_settings, **options.context().model_dump()})


# How the batch engine (`autodata generate --task science`, via the task registry) runs this graph over documents.
SCIENCE_BATCH = BatchSpec(
    name="science_reasoning", run_label="science_reasoning", build=build_science, state_type=ScienceState,
    recursion_limit=lambda ctx: recursion_limit(ctx.max_rounds), prompt_names=lambda task, family: SCIENCE_PROMPTS,
    item_row=science_item_row, context=science_context,
)

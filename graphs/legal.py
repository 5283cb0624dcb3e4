"""The legal reasoning graph (METHOD.md section 3): wiring only, the logic lives in nodes/.

extractor -> (unsuitable: END, skipped) writer -> (shape violation or model error: decide)
weak x weak_samples + strong x strong_samples solvers -> grade -> diagnose -> loop_judge -> decide
-> (improve and budget left: writer) | END.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.engine.batch import BatchSpec, GenerateOptions
from autodata.engine.records import RunFacts, provenance_columns
from autodata.rules.legal_diagnostics import score_std
from autodata.nodes.legal.decide import decide
from autodata.nodes.legal.diagnose import diagnose
from autodata.nodes.legal.extractor import extract
from autodata.nodes.legal.grade import evaluation_sends, grade_samples
from autodata.nodes.legal.loop_judge import loop_judge
from autodata.nodes.legal.writer import write_item
from autodata.nodes.shared.solver import solve
from autodata.state.legal import LegalContext, LegalRoundRecord, LegalShapeRules, LegalState
from autodata.state.schemas import SourceDocument

GRAPH_NAME = "legal_reasoning"
# writer, solver, grade, diagnose, loop_judge, decide.
STEPS_PER_ROUND = 6


async def _suitable_or_end(state: LegalState) -> str:
    return "writer" if state.status == "running" else END  # skipped, or an extract still malformed


async def _evaluate_or_decide(state: LegalState, runtime: Any) -> str | list[Send]:
    if state.round_error or state.shape_violations or state.item is None:
        return "decide"
    return evaluation_sends(state, runtime, "solver")


async def _graded_or_decide(state: LegalState) -> str:
    return "decide" if state.round_error else "diagnose"


async def _next_round_or_end(state: LegalState) -> str:
    return "writer" if state.status == "running" else END


def build_legal() -> StateGraph:
    builder = StateGraph(LegalState, context_schema=LegalContext)
    builder.add_node("extractor", extract)
    builder.add_node("writer", write_item)
    builder.add_node("solver", solve)
    builder.add_node("grade", grade_samples)
    builder.add_node("diagnose", diagnose)
    builder.add_node("loop_judge", loop_judge)
    builder.add_node("decide", decide)

    builder.add_edge(START, "extractor")
    builder.add_conditional_edges("extractor", _suitable_or_end, ["writer", END])
    builder.add_conditional_edges("writer", _evaluate_or_decide, ["solver", "decide"])
    builder.add_edge("solver", "grade")
    builder.add_conditional_edges("grade", _graded_or_decide, ["diagnose", "decide"])
    builder.add_edge("diagnose", "loop_judge")
    builder.add_edge("loop_judge", "decide")
    builder.add_conditional_edges("decide", _next_round_or_end, ["writer", END])
    return builder


def recursion_limit(max_improve_rounds: int) -> int:
    return STEPS_PER_ROUND * (max_improve_rounds + 1) + 10


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
graph = build_legal().compile(name=GRAPH_NAME)


# --- how the batch engine (`autodata generate --task legal`) runs this graph over documents -------------------

LEGAL_PROMPTS = ["extractor_legal", "writer_legal", "loop_judge_legal", "solver_legal", "judge_rubric"]
METHOD = "agentic-self-instruct"  # the agentic method, as the report names it
# [policy] keys of autodata.toml that mean the same for the legal rubric's shape.
_SHAPE_OVERRIDES = {
    "min_rubric_criteria": "min_criteria", "max_rubric_criteria": "max_criteria",
    "min_negative_criteria": "min_negative",
}  # fmt: skip


def legal_context(options: GenerateOptions) -> LegalContext:
    """The run's context: sample counts as for every task (unset: legal's 5 weak / 3 strong); `--rounds R`
    allows R-1 improve rounds; the TOML's [policy] rubric sizes and negative count, then its [legal] section,
    set the shape rules."""
    values: dict[str, Any] = {"task": options.task, "prompts_dir": options.prompts_dir, "run_id": options.run_id}
    sizes = {"samples": options.samples, "weak_samples": options.weak_samples, "strong_samples": options.strong_samples}
    values.update({key: value for key, value in sizes.items() if value is not None})
    if options.max_rounds:
        values["max_improve_rounds"] = options.max_rounds - 1
    shape = {_SHAPE_OVERRIDES[k]: v for k, v in options.policy_overrides.items() if k in _SHAPE_OVERRIDES}
    shape.update(options.shape_overrides)  # the TOML's [legal] section wins
    return LegalContext(**values, shape=LegalShapeRules(**shape))


def _final_scores(record: LegalRoundRecord, role: str) -> list[float]:
    return [s.score for s in record.scores if s.role == role and s.score is not None]


def legal_item_row(state: LegalState, doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    """The item and everything the method reports about it; the common columns keep their meaning."""
    item, final = state.accepted_item, state.rounds[-1]
    judge = final.judge
    weak_scores = [s for s in final.scores if s.role == "weak"]
    return {
        **provenance_columns(doc, run), "method": METHOD, "context": "", "question": item.question, "reference_answer": "",
        "rubric": [c.model_dump() for c in item.rubric],
        "target_capabilities": item.target_capabilities.model_dump(),
        "rounds": len(state.rounds),
        "weak_scores": _final_scores(final, "weak"), "strong_scores": _final_scores(final, "strong"),
        "weak_avg": final.weak_avg, "strong_avg": final.strong_avg,
        "gap": (final.strong_avg or 0.0) - (final.weak_avg or 0.0), "weak_std": score_std(weak_scores),
        "capability_table": [row.model_dump() for row in final.packet.capabilities] if final.packet else [],
        "document_type": state.extract.document_type if state.extract else "",
        **(judge.model_dump() if judge else {}),
    }  # fmt: skip


def legal_trajectory_extras(state: LegalState, status: str) -> dict[str, Any]:
    """What a legal trajectory row adds: the method, why a document was skipped, and the extract."""
    return {
        "method": METHOD,
        "skip_reason": state.skip_reason,
        "extract": state.extract.model_dump() if state.extract else None,
    }


LEGAL_BATCH = BatchSpec(
    name=GRAPH_NAME, run_label=GRAPH_NAME, build=build_legal, state_type=LegalState,
    recursion_limit=lambda ctx: recursion_limit(ctx.max_improve_rounds),
    prompt_names=lambda task, family: list(LEGAL_PROMPTS), item_row=legal_item_row,
    trajectory_extras=legal_trajectory_extras, summary_keys=("status", "usage", "skip_reason"),
    context=legal_context,
)  # fmt: skip

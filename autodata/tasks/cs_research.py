"""The cs-research task: rubric-judged reasoning questions grounded in computer-science papers, made by the
Agentic Self-Instruct loop (graphs/self_instruct.py, METHOD.md section 2)."""

from __future__ import annotations

from typing import Any

from autodata.engine.batch import BatchSpec
from autodata.engine.records import RunFacts, provenance_columns, review_columns
from autodata.graphs.self_instruct import build_self_instruct, recursion_limit
from autodata.meta.render_samples import self_instruct_samples
from autodata.prompting.library import prompt_names
from autodata.state.baselines import BaselineArrangement
from autodata.state.context import RunContext
from autodata.state.schemas import SourceDocument, TaskFamily
from autodata.state.self_instruct import SelfInstructState
from autodata.tasks.spec import MetaSpec, TaskSpec

NAME = "cs-research"
METHOD = "agentic-self-instruct"


def accepted_item_row(state: SelfInstructState, doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    """items.jsonl row of an agentic-self-instruct item (the baselines reuse it with their method)."""
    item = state.accepted_item
    final = state.rounds[-1]
    weak = [s.score for s in final.scores if s.role == "weak" and s.score is not None]
    strong = [s.score for s in final.scores if s.role == "strong" and s.score is not None]
    return {
        **provenance_columns(doc, run),
        "method": METHOD,
        "context": item.context,
        "question": item.question,
        "reference_answer": item.reference_answer,
        "rubric": [c.model_dump() for c in item.rubric],
        "question_type": item.question_type,
        "reasoning_skills": list(item.reasoning_skills),
        "rounds": len(state.rounds),
        "weak_scores": weak,
        "strong_scores": strong,
        "weak_avg": final.weak_avg,
        "strong_avg": final.strong_avg,
        "gap": (final.strong_avg or 0.0) - (final.weak_avg or 0.0),
        # The accepted round's quality verdicts: the quality verifier's four checks and the end-of-loop filter's.
        "quality": [verdict.model_dump(mode="json") for verdict in final.quality],
        **review_columns(state),
    }


# How the batch engine (`autodata generate`, the meta-optimizer's evaluations) runs the loop over documents.
SELF_INSTRUCT_BATCH = BatchSpec(
    name="self_instruct", run_label="self_instruct", build=build_self_instruct, state_type=SelfInstructState,
    recursion_limit=lambda ctx: recursion_limit(ctx.max_rounds), prompt_names=prompt_names,
    item_row=accepted_item_row, context_type=RunContext, reviewed=True,
)  # fmt: skip

EDITABLE_PROMPTS = (f"challenger_{NAME}", "orchestrator")

TASK = TaskSpec(
    name=NAME,
    family=TaskFamily.RUBRIC,
    description="Reasoning questions grounded in computer-science papers; rubric-judged.",
    batch=SELF_INSTRUCT_BATCH,
    solver_prompt="solver_rubric",
    samples=(3, 3),  # METHOD.md section 2
    preset="deployed",
    baseline=BaselineArrangement(solver_prompt="solver_rubric"),  # the quality verifier and end filter, as the loop
    meta=MetaSpec(
        batch=SELF_INSTRUCT_BATCH,
        editable_prompts=EDITABLE_PROMPTS,
        frozen_prompts=tuple(n for n in prompt_names(NAME, TaskFamily.RUBRIC.value) if n not in EDITABLE_PROMPTS),
        render_samples=self_instruct_samples,
    ),
    demo_sources="cs_papers",
)

"""The science task (METHOD.md section 4): math/science problems with a short answer, made by the science graph
(graphs/science.py): parallel challengers, a screen, math-verify or a judge. Its item rows, dataset columns and
report section (report.py) live in this room."""

from __future__ import annotations

from collections import Counter
from typing import Any

from autodata.engine.batch import BatchSpec
from autodata.engine.records import RunFacts, provenance_columns, review_columns
from autodata.engine.rundir import ExtraColumn
from autodata.graphs.science import GRAPH_NAME, build_science, recursion_limit
from autodata.state.baselines import BaselineArrangement
from autodata.state.schemas import SourceDocument, TaskFamily
from autodata.state.science import ScienceContext, ScienceState
from autodata.tasks.science.render_samples import science_samples
from autodata.tasks.science.report import SCIENCE_REPORT
from autodata.tasks.spec import MetaSpec, TaskSpec

NAME = "science"
EDITABLE_PROMPTS = ("challenger_science", "screen_science", "diagnosis_science")
FROZEN_PROMPTS = ("solver_verifiable", "judge_answer")
# The candidate's labels, its exact counts and which check decided its samples (decided_by: JSON text).
DATASET_COLUMNS = (
    ExtraColumn("strategy"), ExtraColumn("format_flags", sequence=True), ExtraColumn("weak_correct", dtype="int64"),
    ExtraColumn("strong_correct", dtype="int64"), ExtraColumn("decided_by", as_json=True),
)  # fmt: skip


def science_item_row(state: ScienceState, doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    """items.jsonl row of a science item: the common columns plus the candidate's labels, its exact counts,
    which check decided its samples, and a reviewer's decisions on it (`generate --review`)."""
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
        **review_columns(state),
    }


SCIENCE_BATCH = BatchSpec(
    name=GRAPH_NAME, run_label=GRAPH_NAME, build=build_science, state_type=ScienceState,
    recursion_limit=lambda ctx: recursion_limit(ctx.max_rounds),
    prompt_names=lambda task, family: [*EDITABLE_PROMPTS, *FROZEN_PROMPTS],
    item_row=science_item_row, context_type=ScienceContext, dataset_columns=DATASET_COLUMNS, reviewed=True,
)  # fmt: skip

TASK = TaskSpec(
    name=NAME,
    family=TaskFamily.VERIFIABLE,
    description="Math/science problems with a short answer: parallel challengers, a screen, math-verify or a judge.",
    batch=SCIENCE_BATCH,
    solver_prompt="solver_verifiable",
    samples=(4, 4),  # METHOD.md section 4
    section="science",  # candidates, evaluate_top, grounding_examples (ScienceContext's own fields)
    baseline=BaselineArrangement(solver_prompt="solver_verifiable"),  # no end filter: it reads rubric items only
    meta=MetaSpec(
        batch=SCIENCE_BATCH, editable_prompts=EDITABLE_PROMPTS, frozen_prompts=FROZEN_PROMPTS,
        render_samples=science_samples,
    ),
    report_section=SCIENCE_REPORT,
    demo_sources="math_science/problems.jsonl",
)

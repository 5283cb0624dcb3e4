"""The legal task (METHOD.md section 3): client questions in new scenarios built on opinions, contracts and
statutes, made by the legal graph (graphs/legal.py). Its item rows and dataset columns, its report section
(report.py) and the rate-suitability command's logic (suitability.py) live in this room."""

from __future__ import annotations

from typing import Any

from autodata.engine.batch import BatchSpec
from autodata.engine.records import RunFacts, provenance_columns, review_columns
from autodata.engine.rundir import ExtraColumn
from autodata.graphs.legal import GRAPH_NAME, build_legal, recursion_limit
from autodata.report.sections import ReportSection
from autodata.rules.legal_diagnostics import score_std
from autodata.state.baselines import BaselineArrangement
from autodata.state.legal import LegalContext, LegalRoundRecord, LegalShapeRules, LegalState
from autodata.state.schemas import SourceDocument, TaskFamily
from autodata.tasks.legal.render_samples import legal_samples
from autodata.tasks.legal.report import legal_html, legal_tables
from autodata.tasks.legal.suitability import rate_run
from autodata.tasks.spec import MetaSpec, TaskSpec

NAME = "legal"
METHOD = "agentic-self-instruct"  # the agentic method, as the report names it
# The loop judge's verdict accepts an item: it is part of the grader, like the solver and judge prompts.
EDITABLE_PROMPTS = ("extractor_legal", "writer_legal")
FROZEN_PROMPTS = ("loop_judge_legal", "solver_legal", "judge_rubric")

# The legal graph's item fields: the rubric column already holds each criterion's capability and weight_class.
DATASET_COLUMNS = (
    *(ExtraColumn(name) for name in (
        "document_type", "grpo_suitability", "verdict", "verdict_reason", "weak_pattern", "strong_pattern",
        "gap_interpretation", "rubric_concerns", "suggestion_for_writer",
    )),
    ExtraColumn("target_capabilities", as_json=True),
    ExtraColumn("capability_table", as_json=True),
    ExtraColumn("weak_std", dtype="float64"),
)  # fmt: skip


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
        **review_columns(state),
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
    prompt_names=lambda task, family: [*EDITABLE_PROMPTS, *FROZEN_PROMPTS], item_row=legal_item_row,
    trajectory_extras=legal_trajectory_extras, summary_keys=("status", "usage", "skip_reason"),
    context_type=LegalContext, dataset_columns=DATASET_COLUMNS, reviewed=True,
)  # fmt: skip

TASK = TaskSpec(
    name=NAME,
    family=TaskFamily.RUBRIC,
    description="Client questions in new scenarios built on opinions, contracts and statutes; capability "
    "rubrics, loop-judge verdicts.",
    batch=LEGAL_BATCH,
    solver_prompt="solver_legal",
    samples=(5, 3),  # METHOD.md section 3
    preset="prose",  # the section 3.1 thresholds (a legal baseline's policy verdict)
    section="legal",  # the rubric shape rules (LegalShapeRules)
    # As the legal graph: the post-filter in code, no quality verifier or end-of-loop filter, the lawyer solver
    # prompt (docs/report.md, "Baselines").
    baseline=BaselineArrangement(
        quality_verifier=False, end_filter=False, question_post_filter=LegalShapeRules(), solver_prompt="solver_legal"
    ),
    meta=MetaSpec(
        batch=LEGAL_BATCH, editable_prompts=EDITABLE_PROMPTS, frozen_prompts=FROZEN_PROMPTS, render_samples=legal_samples
    ),
    report_section=ReportSection(html=legal_html, tables=legal_tables),
    demo_sources="legal",
    rate_suitability=rate_run,
)

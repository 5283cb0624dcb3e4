"""A fourth task defined entirely outside the package, to prove a task plugs in without engine edits.

"glossary": a writer drafts a definition whose answer is a term of the document, and a checker has the weak and
strong solvers name the term, deciding in code (every strong answer right, some weak answer wrong). Its graph,
nodes, state, prompts and report section all live in this folder; `TASK` declares it to the registry. Importing
this package registers nothing (tests register it for their own duration); importing `.plugin` registers it,
as `AUTODATA_TASKS=tests.support.fourth_task.plugin` does for a whole process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autodata.engine.batch import BatchSpec
from autodata.engine.records import RunFacts, provenance_columns
from autodata.engine.rundir import ExtraColumn
from autodata.state.baselines import BaselineArrangement
from autodata.state.schemas import SourceDocument, TaskFamily
from autodata.tasks.spec import MetaSpec, TaskSpec
from tests.support.fourth_task.graph import GRAPH_NAME, build_glossary, recursion_limit
from tests.support.fourth_task.nodes import JUDGE_PROMPT, SOLVER_PROMPT, WRITER_PROMPT
from tests.support.fourth_task.report import GLOSSARY_REPORT
from tests.support.fourth_task.state import GlossaryContext, GlossaryState

NAME = "glossary"
PROMPTS_DIR = Path(__file__).parent / "prompts"


def _scores(correct: list[bool]) -> list[float]:
    return [1.0 if right else 0.0 for right in correct]


def _average(scores: list[float]) -> float | None:
    return sum(scores) / len(scores) if scores else None


def glossary_item_row(state: GlossaryState, doc: SourceDocument, run: RunFacts) -> dict[str, Any]:
    entry, final = state.accepted_item, state.rounds[-1]
    weak, strong = _scores(final.weak_correct), _scores(final.strong_correct)
    return {
        **provenance_columns(doc, run), "method": "glossary-check", "context": "", "question": entry.question,
        "reference_answer": entry.reference_answer, "rubric": [], "term": entry.term, "rounds": len(state.rounds),
        "weak_scores": weak, "strong_scores": strong, "weak_avg": _average(weak), "strong_avg": _average(strong),
        "gap": (_average(strong) or 0.0) - (_average(weak) or 0.0),
    }  # fmt: skip


def writer_samples(name: str) -> list[dict[str, Any]]:
    """The variables the writer node passes its prompt (a first round), for the meta-optimizer's render check."""
    if name != WRITER_PROMPT:
        return []
    document = SourceDocument(doc_id="d", path="d.md", title="Sample", text="A term is defined here.",
                              content_hash="0", span=(0, 23))  # fmt: skip
    return [{"document": document, "round": 1, "max_rounds": 3, "max_answer_words": 3, "previous": None}]


GLOSSARY_BATCH = BatchSpec(
    name=GRAPH_NAME, run_label=GRAPH_NAME, build=build_glossary, state_type=GlossaryState,
    recursion_limit=lambda ctx: recursion_limit(ctx.max_rounds),
    prompt_names=lambda task, family: [WRITER_PROMPT, SOLVER_PROMPT, JUDGE_PROMPT], item_row=glossary_item_row,
    context_type=GlossaryContext, dataset_columns=(ExtraColumn("term"),),
)  # fmt: skip

TASK = TaskSpec(
    name=NAME,
    family=TaskFamily.VERIFIABLE,
    description="Glossary quiz entries: a definition from the document, the term as the answer.",
    batch=GLOSSARY_BATCH,
    solver_prompt=SOLVER_PROMPT,
    samples=(2, 1),
    preset="prose",
    section="glossary",  # [glossary] max_answer_words
    baseline=BaselineArrangement(quality_verifier=False, end_filter=False, solver_prompt=SOLVER_PROMPT),
    meta=MetaSpec(
        batch=GLOSSARY_BATCH, editable_prompts=(WRITER_PROMPT,), frozen_prompts=(SOLVER_PROMPT, JUDGE_PROMPT),
        render_samples=writer_samples,
    ),
    report_section=GLOSSARY_REPORT,
    demo_sources="glossary",
    prompts_dir=PROMPTS_DIR,
)

"""Sample variables for the prompts the meta-optimizer may edit: the self-instruct graph's here (each task
declares its own beside its TaskSpec, e.g. autodata/tasks/legal/render_samples.py).

Before an edited prompt file becomes a version it is rendered once with what its node would pass (every
branch of its optional blocks), in the sandbox: a template that fails here would fail every real round.
A task's meta declaration names its graph's function. Keep each in step with the nodes that render the
prompts: a variable a node passes but a sample lacks makes valid edits fail; one a sample has but no node
passes lets broken ones through.
"""

from __future__ import annotations

from typing import Any

from autodata.state.policy import AcceptancePolicy
from autodata.state.refinement import CriterionResult, EarlierQuestion, RefinementMemory
from autodata.state.schemas import (
    CandidateItem,
    FeedbackCategory,
    FeedbackEntry,
    RubricCriterion,
    SourceDocument,
)


def sample_document() -> SourceDocument:
    text = "Dropout zeroes random activations during training, which discourages co-adaptation of units."
    return SourceDocument(
        doc_id="sample", path="sample.md", title="Dropout", text=text, content_hash="0" * 64, span=(0, len(text))
    )


_SAMPLE_QUESTION = EarlierQuestion(
    round=1, question="Why does dropout help?", question_type="mechanism prediction", weak_avg="0.80",
    strong_avg="0.90", gap="0.10", reason="verifier: recall only",
)  # fmt: skip
_SAMPLE_CRITERION = CriterionResult(
    number=1, criterion="names co-adaptation", weight="+2", category="positive", weak="1/2 (samples 1)",
    strong="2/2 (samples 1, 2)",
)  # fmt: skip
_FULL_MEMORY = RefinementMemory(
    too_easy=(_SAMPLE_QUESTION,), failed_on_strong=(_SAMPLE_QUESTION,), failed_quality_check=(_SAMPLE_QUESTION,)
)


def self_instruct_samples(name: str) -> list[dict[str, Any]]:
    """The self_instruct graph: nodes/self_instruct/challenger.py, orchestrator.py, nodes/shared/quality_verifier.py."""
    document = sample_document()
    rubric = [RubricCriterion(criterion="names co-adaptation", weight=2.0)]
    item = CandidateItem(context="Units co-adapt.", question="Why?", reference_answer="Because.", rubric=rubric)
    if name.startswith("challenger_"):
        feedback = FeedbackEntry(
            round=1, category=FeedbackCategory.TOO_EASY, weak_avg=0.8, details=["weak solver scored 0.80"], advice="Try X."
        )
        base = {"document": document, "max_rounds": 3, "policy": AcceptancePolicy()}
        first = {"feedback": [], "memory": RefinementMemory(), "instruction": "", "round": 1}
        later = {"feedback": [feedback], "memory": _FULL_MEMORY, "instruction": "Try X.", "round": 2}
        return [{**base, **first}, {**base, **later}]
    if name.startswith("quality_verifier_"):
        return [{"document": document, "item": item}]
    if name == "orchestrator":
        base = {"category": "TOO EASY", "details": ["weak solver scored 0.80"], "round": 1, "max_rounds": 3}
        with_item = {
            "item": item, "question": "Why?", "criteria": [_SAMPLE_CRITERION], "quality": ["initial: passed"],
            "weak_scores": "0.50, 0.80", "strong_scores": "0.90, 1.00", "memory": _FULL_MEMORY,
        }  # fmt: skip
        without_item = {
            "item": None, "question": "(no item was produced)", "criteria": [], "quality": ["not run"],
            "weak_scores": "not run", "strong_scores": "not run", "memory": RefinementMemory(),
        }  # fmt: skip
        return [{**base, **with_item}, {**base, **without_item}]
    return []

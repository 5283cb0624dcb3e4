"""Sample variables for the legal prompts the meta-optimizer may edit (nodes/legal/extractor.py and writer.py):
an edited file is rendered with them before it becomes a version."""

from __future__ import annotations

from typing import Any

from autodata.meta.render_samples import sample_document
from autodata.rules.legal_diagnostics import build_packet, round_view
from autodata.state.legal import LegalExtract, LegalItem, LegalRoundRecord, LegalShapeRules, LoopJudgeVerdict


def _legal_item() -> LegalItem:
    rubric = [
        {"criterion": "States the wear-and-tear rule", "weight": 9.0, "weight_class": "critical",
         "capability": "rule_identification"},
        {"criterion": "Claims the deposit is always forfeit", "weight": -5.0, "weight_class": "negative",
         "capability": "exception_analysis"},
    ]  # fmt: skip
    return LegalItem.model_validate({
        "question": "My landlord kept my whole deposit. Can he?", "rubric": rubric,
        "target_capabilities": {"primary": ["rule_identification"], "secondary": ["exception_analysis"],
                                "rewarded": "Applying the rule.", "penalised": "Misstating the rule."},
    })  # fmt: skip


def _legal_previous_round() -> dict[str, Any]:
    item = _legal_item()
    verdict = LoopJudgeVerdict(
        weak_pattern="weak samples missed the exception", strong_pattern="strong samples applied it",
        gap_interpretation="fertile", rubric_concerns="none", grpo_suitability="high", verdict="improve",
        verdict_reason="too easy", suggestion_for_writer="Add a second issue.",
    )  # fmt: skip
    record = LegalRoundRecord(
        round=1, item=item, shape_violations=["too few criteria"], packet=build_packet(item, [], [], ["a flag"]),
        judge=verdict, outcome="improve", error="writer: sample error",
    )  # fmt: skip
    view = round_view(record)
    assert view is not None
    return view


def _legal_reviewed_round() -> dict[str, Any]:
    """A previous round the loop judge accepted and a person reviewing it rejected, with their reason."""
    record = LegalRoundRecord(
        round=1, item=_legal_item(), outcome="rejected_by_review", rule="review",
        rule_reasons=["The question gives the answer away."],
    )  # fmt: skip
    view = round_view(record)
    assert view is not None
    return view


def legal_samples(name: str) -> list[dict[str, Any]]:
    """The legal graph: nodes/legal/extractor.py and writer.py."""
    document = sample_document()
    if name == "extractor_legal":
        return [{"document": document}]
    if name == "writer_legal":
        extract = LegalExtract(
            suitable_for_synthetic_question=True, suitability_reason="A transferable rule.", document_type="opinion",
            topic_keywords=["deposit"], issues=["May a landlord keep a deposit?"], facts="A tenant sued.",
            holdings=["Ordinary wear is not damage."],
        )  # fmt: skip
        base = {"document": document, "extract": extract, "shape": LegalShapeRules(), "max_rounds": 3}
        return [{**base, "previous": None, "round": 1}, {**base, "previous": _legal_previous_round(), "round": 2},
                {**base, "previous": _legal_reviewed_round(), "round": 2}]  # fmt: skip
    return []

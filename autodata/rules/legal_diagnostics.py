"""The legal loop judge's diagnostic packet, computed in code from the judge's per-criterion verdicts.

Capability percentages: for each capability, the share of its criteria's absolute weight an answer earns
(a positive criterion met, a negative mistake avoided), averaged over the role's graded samples. The table is
sorted by weak % ascending, so the capabilities the weak model lacks come first.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from autodata.rules.scoring import mean_score
from autodata.state.legal import (
    CapabilityRow,
    CriterionResult,
    DiagnosticPacket,
    LegalCriterion,
    LegalItem,
    LegalRoundRecord,
    SampleResult,
)
from autodata.state.schemas import AttemptScore, SolverAttempt

ANSWER_EXCERPT_CHARS = 1200


def _graded(scores: list[AttemptScore], role: str) -> list[AttemptScore]:
    return [s for s in scores if s.role == role and s.score is not None and s.criteria_hits]


def score_std(scores: list[AttemptScore]) -> float | None:
    """Population standard deviation of the scores that exist (0.0 for a single one)."""
    values = [s.score for s in scores if s.score is not None]
    return statistics.pstdev(values) if values else None


def _earned(criterion: LegalCriterion, hit: bool) -> bool:
    return hit if criterion.weight > 0 else not hit


def _capability_pct(rubric: list[LegalCriterion], indices: list[int], graded: list[AttemptScore]) -> float | None:
    total = sum(abs(rubric[i].weight) for i in indices)
    if not graded or total == 0:
        return None
    shares = [
        sum(abs(rubric[i].weight) for i in indices if _earned(rubric[i], score.criteria_hits[i])) / total
        for score in graded
    ]
    return 100.0 * sum(shares) / len(shares)


def _sort_key(row: CapabilityRow) -> tuple[bool, float, str]:
    return (row.weak_pct is None, row.weak_pct or 0.0, row.capability)


def capability_table(rubric: list[LegalCriterion], scores: list[AttemptScore]) -> list[CapabilityRow]:
    by_capability: dict[str, list[int]] = defaultdict(list)
    for index, criterion in enumerate(rubric):
        by_capability[criterion.capability].append(index)
    weak, strong = _graded(scores, "weak"), _graded(scores, "strong")
    rows = []
    for capability, indices in by_capability.items():
        weak_pct, strong_pct = _capability_pct(rubric, indices, weak), _capability_pct(rubric, indices, strong)
        gap = strong_pct - weak_pct if weak_pct is not None and strong_pct is not None else None
        rows.append(CapabilityRow(capability=capability, criteria=len(indices), weak_pct=weak_pct,
                                  strong_pct=strong_pct, gap_pct=gap))  # fmt: skip
    return sorted(rows, key=_sort_key)


def criterion_results(rubric: list[LegalCriterion], scores: list[AttemptScore]) -> list[CriterionResult]:
    weak, strong = _graded(scores, "weak"), _graded(scores, "strong")
    return [
        CriterionResult(
            index=i + 1, criterion=c.criterion, capability=c.capability, weight=c.weight,
            weak_hits=sum(s.criteria_hits[i] for s in weak), weak_graded=len(weak),
            strong_hits=sum(s.criteria_hits[i] for s in strong), strong_graded=len(strong),
        )  # fmt: skip
        for i, c in enumerate(rubric)
    ]


def sample_results(attempts: list[SolverAttempt], scores: list[AttemptScore]) -> list[SampleResult]:
    answers = {(a.role, a.sample_index): a.answer for a in attempts}
    return [
        SampleResult(role=s.role, sample_index=s.sample_index, score=s.score, error=s.error,
                     answer_excerpt=answers.get((s.role, s.sample_index), "")[:ANSWER_EXCERPT_CHARS])  # fmt: skip
        for s in sorted(scores, key=lambda s: (s.role != "weak", s.sample_index))
    ]


def rubric_change(previous: LegalItem | None, current: LegalItem) -> str:
    """Facts the loop judge needs to spot an eased rubric (fewer criteria, lower weights)."""
    if previous is None:
        return ""

    def shape(item: LegalItem) -> tuple[int, float, float]:
        weights = [c.weight for c in item.rubric]
        return len(weights), sum(w for w in weights if w > 0), sum(w for w in weights if w < 0)

    (n0, pos0, neg0), (n1, pos1, neg1) = shape(previous), shape(current)
    return (f"criteria {n0} -> {n1}; total positive weight {pos0:g} -> {pos1:g}; "
            f"total negative weight {neg0:g} -> {neg1:g}")  # fmt: skip


def build_packet(
    item: LegalItem,
    attempts: list[SolverAttempt],
    scores: list[AttemptScore],
    flags: list[str],
    previous: LegalItem | None = None,
) -> DiagnosticPacket:
    weak = [s for s in scores if s.role == "weak"]
    strong = [s for s in scores if s.role == "strong"]
    weak_avg, strong_avg = mean_score(weak), mean_score(strong)
    return DiagnosticPacket(
        weak_avg=weak_avg,
        strong_avg=strong_avg,
        gap=strong_avg - weak_avg if weak_avg is not None and strong_avg is not None else None,
        weak_std=score_std(weak),
        weak_valid=sum(s.score is not None for s in weak),
        strong_valid=sum(s.score is not None for s in strong),
        samples=sample_results(attempts, scores),
        criteria=criterion_results(item.rubric, scores),
        capabilities=capability_table(item.rubric, scores),
        post_filter_flags=flags,
        rubric_change=rubric_change(previous, item),
    )


# --- what the prompts read: numbers formatted here (the prompt sandbox allows no `format` filter) -----------


def _fixed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def packet_view(packet: DiagnosticPacket | None) -> dict | None:
    """The packet as the loop judge and writer prompts show it: averages to 2 decimals, percentages to 0."""
    if packet is None:
        return None
    view = packet.model_dump()
    view.update({key: _fixed(getattr(packet, key), 2) for key in ("weak_avg", "strong_avg", "gap", "weak_std")})
    view["capabilities"] = [
        {**row.model_dump(), **{key: _fixed(getattr(row, key), 0) for key in ("weak_pct", "strong_pct", "gap_pct")}}
        for row in packet.capabilities
    ]
    view["samples"] = [{**s.model_dump(), "score": _fixed(s.score, 2)} for s in packet.samples]
    return view


def item_view(item: LegalItem | None) -> dict | None:
    """The item with signed weights (+9, -4) as the prompts show them."""
    if item is None:
        return None
    view = item.model_dump()
    view["rubric"] = [{**c.model_dump(), "weight": f"{c.weight:+g}"} for c in item.rubric]
    return view


def round_view(record: LegalRoundRecord | None) -> dict | None:
    """A previous round as the writer's improve prompt shows it. A round a person rejected carries the reviewer's
    reason apart (`reviewer_reason`), so the prompt does not present it as a failed code check."""
    if record is None:
        return None
    rejected_by_review = record.outcome == "rejected_by_review"
    return {
        **record.model_dump(), "item": item_view(record.item), "packet": packet_view(record.packet),
        "reviewer_reason": "; ".join(record.rule_reasons) if rejected_by_review else "",
        "rule_reasons": [] if rejected_by_review else record.rule_reasons,
    }  # fmt: skip

"""What the challenger and the orchestrator are shown about earlier rounds, built in code from the state.

The refinement memory groups every earlier question of the document by why it failed; the round evidence lays
out one round's scores and per-criterion results for the orchestrator. Numbers are formatted here because
prompt templates cannot call functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from autodata.rules.scoring import mean_score
from autodata.state.refinement import CriterionResult, EarlierQuestion, RefinementMemory
from autodata.state.schemas import (
    AttemptScore,
    CandidateItem,
    QualityVerdict,
    RoundOutcome,
    RoundRecord,
    SolverRole,
)


def fmt_score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def quality_failure_reason(verdicts: Sequence[QualityVerdict]) -> str:
    reasons = [reason for verdict in verdicts if not verdict.passed for reason in verdict.reasons]
    return "; ".join(reasons) or "rejected by the quality check"


def _earlier_question(record: RoundRecord, item: CandidateItem) -> EarlierQuestion:
    gap = None if record.weak_avg is None or record.strong_avg is None else record.strong_avg - record.weak_avg
    return EarlierQuestion(
        round=record.round,
        question=item.question,
        question_type=item.question_type or "unlabelled",
        weak_avg=fmt_score(record.weak_avg),
        strong_avg=fmt_score(record.strong_avg),
        gap=fmt_score(gap),
        reason=quality_failure_reason(record.quality),
    )


def refinement_memory(rounds: Sequence[RoundRecord]) -> RefinementMemory:
    """The memory of the closed rounds; rounds without a question or without a verdict on it are left out."""
    groups: dict[RoundOutcome, list[EarlierQuestion]] = {
        RoundOutcome.TOO_EASY: [], RoundOutcome.FAILED_ON_STRONG: [], RoundOutcome.FAILED_QUALITY_CHECK: [],
    }  # fmt: skip
    for record in sorted(rounds, key=lambda r: r.round):
        if record.item is not None and record.outcome in groups:
            groups[record.outcome].append(_earlier_question(record, record.item))
    return RefinementMemory(
        too_easy=tuple(groups[RoundOutcome.TOO_EASY]),
        failed_on_strong=tuple(groups[RoundOutcome.FAILED_ON_STRONG]),
        failed_quality_check=tuple(groups[RoundOutcome.FAILED_QUALITY_CHECK]),
    )


def _hits(scores: Sequence[AttemptScore], index: int) -> str:
    graded = [score for score in scores if len(score.criteria_hits) > index]
    if not graded:
        return "not graded"
    hit = [str(score.sample_index + 1) for score in graded if score.criteria_hits[index]]
    return f"{len(hit)}/{len(graded)}" + (f" (samples {', '.join(hit)})" if hit else "")


def criterion_results(item: CandidateItem, scores: Sequence[AttemptScore]) -> list[CriterionResult]:
    by_role: dict[SolverRole, list[AttemptScore]] = {
        role: sorted((s for s in scores if s.role == role), key=lambda s: s.sample_index) for role in ("weak", "strong")
    }
    return [
        CriterionResult(
            number=index + 1,
            criterion=criterion.criterion,
            weight=f"{criterion.weight:+g}",
            category=criterion.category or ("negative" if criterion.weight < 0 else "positive"),
            weak=_hits(by_role["weak"], index),
            strong=_hits(by_role["strong"], index),
        )
        for index, criterion in enumerate(item.rubric)
    ]


def sample_scores(scores: Sequence[AttemptScore], role: SolverRole) -> str:
    """'0.40, 0.10, n/a (avg 0.25)' for the role's samples in order, or 'not run'."""
    own = sorted((s for s in scores if s.role == role), key=lambda s: s.sample_index)
    if not own:
        return "not run"
    return f"{', '.join(fmt_score(s.score) for s in own)} (avg {fmt_score(mean_score(own))})"


def _verdict_line(verdict: QualityVerdict) -> str:
    status = "passed" if verdict.passed else f"failed: {'; '.join(verdict.reasons)}"
    counts = f" ({verdict.rubric_counts})" if verdict.rubric_counts else ""
    return f"{verdict.stage} check: {status}{counts}"


def quality_report(verdicts: Sequence[QualityVerdict]) -> list[str]:
    return [_verdict_line(verdict) for verdict in verdicts] or ["not run"]

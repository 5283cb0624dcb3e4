"""What the challenger and the orchestrator are shown about earlier rounds, built in code from the state.

Every rejection rule has its own verdict (`RULE_VERDICTS`): what happened and which way the next question must
move. The refinement memory groups every earlier question of the document by that direction; the round
evidence lays out one round's scores and per-criterion results for the orchestrator. Numbers are formatted
here because prompt templates cannot call functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RuleVerdict:
    """How one rejection rule is named to the orchestrator and the challenger."""

    label: str  # the round's outcome as the prompts show it
    group: str  # the RefinementMemory group its questions are listed under
    direction: str  # what happened and which way to move, in one sentence


_HARDER_FOR_WEAK = "make the question harder for the weak model: the points it earned came from surface reading"
_STRONG_COULD_NOT = (
    "the strong model could not do it: remove ambiguity, supply what the context lacks, or fix an error in the "
    "reference answer or rubric"
)
RULE_VERDICTS: dict[str, RuleVerdict] = {
    "weak_avg_ceiling": RuleVerdict(
        "TOO EASY", "too_easy", f"the weak average is over the ceiling; {_HARDER_FOR_WEAK}"
    ),
    "weak_max_ceiling": RuleVerdict(
        "TOO EASY", "too_easy", f"one weak sample scored over the single-answer ceiling; {_HARDER_FOR_WEAK}"
    ),
    "weak_correct_ceiling": RuleVerdict(
        "TOO EASY", "too_easy", f"too many weak samples reached the reference answer; {_HARDER_FOR_WEAK}"
    ),
    "weak_zero": RuleVerdict(
        "OUT OF THE WEAK MODEL'S REACH", "out_of_weak_reach",
        "a weak sample earned no credit at all: the question is out of the weak model's reach or the rubric cannot "
        "be reached; make partial credit attainable for a model that reasons partway, and keep the question hard "
        "(this is not a question that was too easy)",
    ),
    "strong_ceiling": RuleVerdict(
        "TOO EASY FOR BOTH", "too_easy_for_both",
        "the strong model is at the ceiling, so the question is too easy for both models; make it harder for both "
        "(this is not a failure of the strong model)",
    ),
    "strong_floor": RuleVerdict(
        "FAILED ON STRONG", "failed_on_strong", f"the strong average is under its floor: {_STRONG_COULD_NOT}"
    ),
    "strong_zero": RuleVerdict(
        "FAILED ON STRONG", "failed_on_strong", f"a strong sample earned no credit: {_STRONG_COULD_NOT}"
    ),
    "strong_correct_floor": RuleVerdict(
        "FAILED ON STRONG", "failed_on_strong",
        f"too few strong samples reached the reference answer: {_STRONG_COULD_NOT}",
    ),
    "gap": RuleVerdict(
        "NO GAP", "failed_on_strong",
        "the strong model did not beat the weak one by enough; hinge the question on a step that careful reasoning "
        "reaches and surface reading misses, so the two models separate",
    ),
}
_OUTCOME_VERDICTS: dict[RoundOutcome, RuleVerdict] = {
    RoundOutcome.TOO_EASY: RuleVerdict("TOO EASY", "too_easy", _HARDER_FOR_WEAK),
    RoundOutcome.FAILED_ON_STRONG: RuleVerdict("FAILED ON STRONG", "failed_on_strong", _STRONG_COULD_NOT),
    RoundOutcome.FAILED_QUALITY_CHECK: RuleVerdict(
        "FAILED QUALITY CHECK", "failed_quality_check", "fix exactly what the quality check names"
    ),
    RoundOutcome.MODEL_ERROR: RuleVerdict(
        "MODEL ERROR", "", "no usable item or verdict came out of the round; write a complete, well-formed item"
    ),
}


def rule_verdict(outcome: RoundOutcome, rule: str | None) -> RuleVerdict:
    """The verdict of the rule that rejected a round; a quality-check rule, or none, falls back to the outcome's."""
    if outcome in (RoundOutcome.TOO_EASY, RoundOutcome.FAILED_ON_STRONG) and rule in RULE_VERDICTS:
        return RULE_VERDICTS[rule]
    return _OUTCOME_VERDICTS[outcome]


def quality_failure_reason(verdicts: Sequence[QualityVerdict]) -> str:
    reasons = [reason for verdict in verdicts if not verdict.passed for reason in verdict.reasons]
    return "; ".join(reasons) or "rejected by the quality check"


def _earlier_question(record: RoundRecord, item: CandidateItem) -> EarlierQuestion:
    gap = None if record.weak_avg is None or record.strong_avg is None else record.strong_avg - record.weak_avg
    verdict = rule_verdict(record.outcome, record.rule)
    return EarlierQuestion(
        round=record.round,
        question=item.question,
        question_type=item.question_type or "unlabelled",
        weak_avg=fmt_score(record.weak_avg),
        strong_avg=fmt_score(record.strong_avg),
        gap=fmt_score(gap),
        reason=quality_failure_reason(record.quality),
        rule=record.rule or "",
        verdict=verdict.direction,
    )


_MEMORY_GROUPS = ("too_easy", "out_of_weak_reach", "too_easy_for_both", "failed_on_strong", "failed_quality_check")


def refinement_memory(rounds: Sequence[RoundRecord]) -> RefinementMemory:
    """The memory of the closed rounds, grouped by the direction of the rule that rejected each; rounds without
    a question or without a verdict on it (model errors, accepted or filtered items) are left out."""
    groups: dict[str, list[EarlierQuestion]] = {name: [] for name in _MEMORY_GROUPS}
    for record in sorted(rounds, key=lambda r: r.round):
        if record.item is None or record.outcome not in _OUTCOME_VERDICTS:
            continue
        group = rule_verdict(record.outcome, record.rule).group
        if group in groups:
            groups[group].append(_earlier_question(record, record.item))
    return RefinementMemory(**{name: tuple(questions) for name, questions in groups.items()})


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

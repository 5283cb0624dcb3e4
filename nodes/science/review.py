"""The science loop's review step (nodes/shared/review.py has the rules every graph's review shares).

After the answer checks, where the exact counts would keep a candidate (the round's winner, as `rank_round`
picks it), the thread pauses for a reviewer when the run's context sets `review`. The node only records the
decision (`reviews`) and the winner as the reviewer left it (`reviewed`); `decide` applies it: approve, or an
edit of the question or context, keeps the item; reject fails the round (rule `review`) and the diagnosis reads
the reviewer's reason; an edited reference answer closes the round (rule `review_edit`) and the edited item is
scored again as the next round's only candidate, which does not pause a second time.
"""

from __future__ import annotations

from typing import Any

from autodata.nodes.science.common import science_context
from autodata.nodes.science.decide import RoundRanking, rank_round
from autodata.nodes.shared.review import ask_reviewer, rescoring_an_edit, review_enabled, review_payload
from autodata.rules.scoring import correct_count_bounds
from autodata.state.policy import AcceptancePolicy
from autodata.state.science import AnswerCheck, CandidateResult, ScienceCandidate, ScienceState

# A science item has no rubric: a reviewer may correct its wording, its data or its answer.
EDITABLE = ("context", "question", "reference_answer")


def _score(check: AnswerCheck | None) -> float | None:
    return None if check is None or check.correct is None else (1.0 if check.correct else 0.0)


def _samples(state: ScienceState, candidate: int, role: str) -> list[dict[str, Any]]:
    """Each of the winner's samples of one role: the reply, its final answer, its score and which check decided."""
    checks = {c.sample_index: c for c in state.round_checks(candidate, role)}
    attempts = sorted((a for a in state.round_attempts(candidate) if a.role == role), key=lambda a: a.sample_index)
    return [
        {"answer": a.answer, "final_answer": a.final_answer, "score": _score(checks.get(a.sample_index)),
         "decided_by": checks[a.sample_index].decided_by if a.sample_index in checks else "unscored"}
        for a in attempts
    ]  # fmt: skip


def _verdicts(state: ScienceState, winner: ScienceCandidate) -> list[dict[str, Any]]:
    """What the code's format rules and the screen said of the winner before it was evaluated."""
    ranked = sum(1 for c in state.screened if c.screen_rank is not None)
    return [
        {"stage": "format", "passed": True, "reasons": [], "flags": winner.format_flags},
        {"stage": "screen", "passed": True, "rank": winner.screen_rank, "of": ranked,
         "reasons": [winner.screen_reason] if winner.screen_reason else []},
    ]  # fmt: skip


def count_policy(result: CandidateResult, policy: AcceptancePolicy) -> dict[str, Any]:
    """The exact-count thresholds for the winner's sample counts."""
    weak_max, strong_min = correct_count_bounds(result.weak_samples, result.strong_samples, policy)
    return {
        "rule": "exact counts", "weak_correct_at_most": weak_max, "weak_samples": result.weak_samples,
        "strong_correct_at_least": strong_min, "strong_samples": result.strong_samples,
    }  # fmt: skip


def passed_by(ranking: RoundRanking, policy: AcceptancePolicy) -> str:
    """The counts that passed the winner, in words."""
    best = ranking.best
    bounds = count_policy(best, policy)
    sentence = (
        f"weak {best.weak_correct} of {best.weak_samples} correct (at most {bounds['weak_correct_at_most']} allowed), "
        f"strong {best.strong_correct} of {best.strong_samples} (at least {bounds['strong_correct_at_least']} needed)"
    )
    others = len(ranking.passing) - 1
    return sentence + (f"; the widest gap of {others + 1} passing candidates" if others else "")


def science_payload(state: ScienceState, ranking: RoundRanking, policy: AcceptancePolicy) -> dict[str, Any]:
    """Everything a reviewer sees of the round's winner."""
    winner = ranking.winner
    item = winner.item
    return review_payload(
        document=state.document.doc_id, round_=state.round, question=item.question, context=item.context,
        reference_answer=item.reference_answer, rubric=[], weak=_samples(state, winner.index, "weak"),
        strong=_samples(state, winner.index, "strong"), verdicts=_verdicts(state, winner),
        policy=count_policy(ranking.best, policy), passed_by=passed_by(ranking, policy),
        question_type=winner.question_type, reasoning_skills=winner.reasoning_skills, strategy=winner.strategy,
    )  # fmt: skip


async def review(state: ScienceState, runtime: Any) -> dict[str, Any]:
    """Pause on the round's winner for a reviewer's decision (when the run asked for review) and record it;
    `decide` applies it. Nothing happens before the interrupt that a resume could repeat."""
    if not review_enabled(runtime) or rescoring_an_edit(state.reviews, state.round):
        return {}  # off, or the re-scoring of an item the reviewer already decided on
    policy = science_context(runtime).policy
    ranking = rank_round(state, policy)
    if ranking.winner is None or ranking.winner.item is None:
        return {}  # nothing would be kept: the round fails without a person
    reviewed = ask_reviewer(science_payload(state, ranking, policy), ranking.winner.item, EDITABLE, state.round)
    return {"reviews": [reviewed.record], "reviewed": ranking.winner.model_copy(update={"item": reviewed.item})}

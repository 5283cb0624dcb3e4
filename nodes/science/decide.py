"""Acceptance for science items, in code: exact counts of correct samples per evaluated candidate (weak at
most 1 of 4, strong at least 3 of 4 by default). A candidate with an unscored sample cannot be accepted.
Of several passing candidates the one with the widest strong-weak gap is kept (ties: the screen's order).

`rank_round` picks that winner; the review node (nodes/science/review.py) pauses on the same one. `decide` is
the one place that closes the round: it keeps the winner (as a reviewer approved or edited it), fails the round
when a reviewer rejected it (rule `review`: the diagnosis reads the reason), or, when a reviewer edited its
reference answer, closes the round (rule `review_edit`) so the edited item is scored again as the next round's
only candidate; with no round left the document ends exhausted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END

from autodata.nodes.science.common import close_round, science_context
from autodata.nodes.shared.review import EDIT_RULE, REVIEW_RULE
from autodata.rules.scoring import count_outcome
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import RoundOutcome
from autodata.state.science import CandidateResult, ScienceCandidate, ScienceState


@dataclass(frozen=True)
class RoundRanking:
    """The round's evaluated candidates in the screen's order with their counts, and the one the round keeps."""

    results: list[CandidateResult]
    best: CandidateResult | None  # the winner's counts: passing, with the widest gap
    winner: ScienceCandidate | None

    @property
    def passing(self) -> list[CandidateResult]:
        return [r for r in self.results if r.outcome is RoundOutcome.ACCEPTED]


def _result(state: ScienceState, candidate: ScienceCandidate, policy: AcceptancePolicy) -> CandidateResult:
    weak = state.round_checks(candidate.index, "weak")
    strong = state.round_checks(candidate.index, "strong")
    counts = {
        "weak_correct": sum(1 for c in weak if c.correct), "weak_samples": len(weak),
        "strong_correct": sum(1 for c in strong if c.correct), "strong_samples": len(strong),
    }  # fmt: skip
    if not weak or not strong or any(c.correct is None for c in [*weak, *strong]):
        return CandidateResult(candidate=candidate.index, **counts, outcome=RoundOutcome.MODEL_ERROR)
    return CandidateResult(candidate=candidate.index, **counts, outcome=count_outcome(**counts, policy=policy))


def rank_round(state: ScienceState, policy: AcceptancePolicy) -> RoundRanking:
    """The exact-count verdict of every evaluated candidate and the winner (None when none passes)."""
    ranked = sorted(state.selected(), key=lambda c: c.screen_rank or 0)
    results = [_result(state, c, policy) for c in ranked]
    passing = [r for r in results if r.outcome is RoundOutcome.ACCEPTED]
    if not passing:
        return RoundRanking(results, None, None)
    best = max(passing, key=lambda r: r.gap)  # max keeps the first of equals: the screen's order
    return RoundRanking(results, best, next(c for c in ranked if c.index == best.candidate))


def _kept(state: ScienceState, winner: ScienceCandidate) -> ScienceCandidate:
    """The winner as the reviewer left it (an edited question or context), or as it was scored."""
    reviewed = state.reviewed
    if reviewed is not None and (reviewed.round, reviewed.index) == (winner.round, winner.index):
        return reviewed
    return winner


def _close_for_rescore(state: ScienceState, ranking: RoundRanking, max_rounds: int) -> dict[str, Any]:
    """A reviewer edited the winner's reference answer: this round's checks no longer describe the item, so the
    round closes failed and the edited item is scored again as the next round (start_round), if one is left."""
    outcome = RoundOutcome.FAILED_QUALITY_CHECK
    closing = state.model_copy(update={"rule": EDIT_RULE})
    update: dict[str, Any] = {
        "results": ranking.results, "outcome": outcome, "rule": EDIT_RULE,
        "rounds": [close_round(closing, outcome, results=ranking.results)],
    }  # fmt: skip
    if state.round >= max_rounds:
        update["status"] = "exhausted"
    return update


async def decide(state: ScienceState, runtime: Any) -> dict[str, Any]:
    ctx = science_context(runtime)
    ranking = rank_round(state, ctx.policy)
    if ranking.winner is None:
        results = ranking.results
        return {"results": results, "outcome": results[0].outcome if results else RoundOutcome.MODEL_ERROR}
    review = state.round_review()
    if review is not None and review.decision == "reject":  # diagnose closes the round with the reviewer's reason
        return {"results": ranking.results, "outcome": RoundOutcome.FAILED_QUALITY_CHECK, "rule": REVIEW_RULE}
    if review is not None and review.needs_rescore:
        return _close_for_rescore(state, ranking, ctx.max_rounds)
    kept = _kept(state, ranking.winner)
    return {
        "results": ranking.results,
        "outcome": RoundOutcome.ACCEPTED,
        "status": "accepted",
        "accepted_item": kept.item,
        "accepted": kept,
        "rounds": [close_round(state, RoundOutcome.ACCEPTED, results=ranking.results, accepted=ranking.best)],
    }


def after_decide(state: ScienceState) -> str:
    """The end (kept, or no round left), the next round at once (an edited reference answer to score again),
    or the diagnosis of a failed round."""
    if state.status in ("accepted", "exhausted"):
        return END
    return "start_round" if state.rule == EDIT_RULE else "diagnose"

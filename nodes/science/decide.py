"""Acceptance for science items, in code: exact counts of correct samples per evaluated candidate (weak at
most 1 of 4, strong at least 3 of 4 by default). A candidate with an unscored sample cannot be accepted.
Of several passing candidates the one with the widest strong-weak gap is kept (ties: the screen's order)."""

from __future__ import annotations

from typing import Any

from autodata.nodes.science.common import close_round, science_context
from autodata.rules.scoring import count_outcome
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import RoundOutcome
from autodata.state.science import CandidateResult, ScienceCandidate, ScienceState


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


async def decide(state: ScienceState, runtime: Any) -> dict[str, Any]:
    ctx = science_context(runtime)
    ranked = sorted(state.selected(), key=lambda c: c.screen_rank or 0)
    results = [_result(state, c, ctx.policy) for c in ranked]
    passing = [r for r in results if r.outcome is RoundOutcome.ACCEPTED]
    if not passing:
        return {"results": results, "outcome": results[0].outcome if results else RoundOutcome.MODEL_ERROR}
    best = max(passing, key=lambda r: r.gap)  # max keeps the first of equals: the screen's order
    winner = next(c for c in ranked if c.index == best.candidate)
    return {
        "results": results,
        "outcome": RoundOutcome.ACCEPTED,
        "status": "accepted",
        "accepted_item": winner.item,
        "accepted": winner,
        "rounds": [close_round(state, RoundOutcome.ACCEPTED, results=results, accepted=best)],
    }

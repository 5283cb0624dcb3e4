"""Decision, two layers, in code: a post-filter flag forces IMPROVE; otherwise the loop judge's verdict
decides. Scores never overrule an improve. Closes the round's record and spends the improve budget."""

from __future__ import annotations

from typing import Any

from autodata.nodes.legal.common import legal_context
from autodata.rules.scoring import mean_score
from autodata.state.legal import LegalOutcome, LegalRoundRecord, LegalState


def round_outcome(state: LegalState) -> LegalOutcome:
    if state.round_error:
        return "model_error"
    if state.shape_violations:
        return "rubric_shape"
    if state.packet is not None and state.packet.post_filter_flags:
        return "post_filter"
    if state.judge is not None and state.judge.verdict == "accept":
        return "accepted"
    return "improve"


def close_round(state: LegalState, outcome: LegalOutcome) -> LegalRoundRecord:
    return LegalRoundRecord(
        round=state.round,
        item=state.item,
        shape_violations=state.shape_violations,
        attempts=[a for a in state.attempts if a.round == state.round],
        scores=[s for s in state.scores if s.round == state.round],
        packet=state.packet,
        judge=state.judge,
        weak_avg=mean_score(state.scores_for("weak")),
        strong_avg=mean_score(state.scores_for("strong")),
        outcome=outcome,
        error=state.round_error,
    )


async def decide(state: LegalState, runtime: Any) -> dict[str, Any]:
    ctx = legal_context(runtime)
    outcome = round_outcome(state)
    update: dict[str, Any] = {"rounds": [close_round(state, outcome)]}
    if outcome == "accepted":
        update.update(status="accepted", accepted_item=state.item)
    elif state.round - 1 >= ctx.max_improve_rounds:  # round 1 is the first draft, every later one an improve
        update["status"] = "exhausted"
    return update

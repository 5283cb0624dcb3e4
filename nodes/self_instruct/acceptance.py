"""Acceptance: the policy applied in code to the scores. No model output can vote on it directly.

The rules themselves live in `autodata.rules.scoring`, shared with the baselines; a failure records the rule's name
(strong_floor, strong_ceiling, strong_zero, gap).
"""

from __future__ import annotations

from typing import Any

from autodata.nodes.shared.common import family_of, run_context
from autodata.rules.scoring import any_unscored, strong_failed_rule
from autodata.state.schemas import RoundOutcome
from autodata.state.self_instruct import SelfInstructState


async def acceptance(state: SelfInstructState, runtime: Any) -> dict[str, Any]:
    ctx = run_context(runtime)
    weak, strong = state.scores_for("weak"), state.scores_for("strong")
    if any_unscored(strong):
        return {"outcome": RoundOutcome.MODEL_ERROR, "round_error": "some strong attempts could not be scored"}
    rule = strong_failed_rule(weak, strong, family_of(ctx), ctx.policy)
    return {"outcome": None, "rule": None} if rule is None else {"outcome": RoundOutcome.FAILED_ON_STRONG, "rule": rule}

"""Legal evaluation: weak and strong samples fan out to the shared solver node (same prompt for both
roles), and this node grades every sample of the round per criterion with the shared judge."""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import usage_update
from autodata.nodes.legal.common import as_candidate, legal_context, legal_metadata
from autodata.nodes.shared.judge import judge_attempts
from autodata.state.legal import LegalState
from autodata.state.self_instruct import SolveTask

SOLVER_PROMPT = "solver_legal"


def evaluation_sends(state: LegalState, runtime: Any, node: str) -> list[Send]:
    """weak_samples weak and strong_samples strong answers, all in parallel."""
    ctx = legal_context(runtime)
    item = as_candidate(state.item)
    counts = (("weak", ctx.weak_samples), ("strong", ctx.strong_samples))
    return [
        Send(node, SolveTask(role=role, sample_index=i, round=state.round, item=item, document=state.document,
                             prompt=SOLVER_PROMPT))  # fmt: skip
        for role, k in counts
        for i in range(k)
    ]


async def grade_samples(state: LegalState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = legal_context(runtime)
    attempts = state.attempts_for("weak") + state.attempts_for("strong")
    scores, usage = await judge_attempts(provider, attempts, as_candidate(state.item), ctx, legal_metadata(state, ctx))
    update: dict[str, Any] = {"scores": scores, **usage_update("judge", usage)}
    missing = [role for role in ("weak", "strong") if not any(s.role == role and s.score is not None for s in scores)]
    if missing:
        # No gradable sample of a role (endpoint failures have already raised): malformed answers or grades,
        # never a property of the question.
        update["round_error"] = f"no {' or '.join(missing)} sample could be answered and graded"
    return update

"""The meta-optimizer's budgets: iterations, model calls, tokens and wall time, whichever runs out first.

What was spent is derived from the checkpointed state (every evaluation's inner-graph usage, every iteration's
analyzer and implementer usage and wall time), so a run killed and resumed keeps its counters exactly: nothing
is counted in memory only. Wall time is the seed's evaluation plus each iteration's start-to-record time.
"""

from __future__ import annotations

from dataclasses import dataclass

from autodata.state.meta import MetaContext, MetaState
from autodata.state.schemas import RoleUsage


@dataclass(frozen=True)
class Spent:
    iterations: int
    model_calls: int
    tokens: int
    seconds: float
    metric_calls: int  # document evaluations (one document run through the inner graph once)


def _add(usages: list[dict[str, RoleUsage]]) -> tuple[int, int]:
    calls = tokens = 0
    for usage in usages:
        for role_usage in usage.values():
            calls += role_usage.calls
            tokens += role_usage.prompt_tokens + role_usage.completion_tokens
    return calls, tokens


def spent(state: MetaState) -> Spent:
    usages = [e.usage for e in state.evaluations] + [r.usage for r in state.iterations]
    calls, tokens = _add(usages)
    return Spent(
        iterations=len(state.iterations), model_calls=calls, tokens=tokens,
        seconds=state.seed_seconds + sum(r.seconds for r in state.iterations),
        metric_calls=sum(e.documents for e in state.evaluations),
    )  # fmt: skip


def stop_reason(ctx: MetaContext, state: MetaState) -> str | None:
    """Which budget is used up (None: carry on)."""
    used = spent(state)
    if used.iterations >= state.target_iterations:
        return f"iterations: {used.iterations} of {state.target_iterations}"
    limits = (
        ("model calls", used.model_calls, ctx.max_model_calls),
        ("tokens", used.tokens, ctx.max_tokens),
        ("wall time (s)", round(used.seconds, 1), ctx.max_seconds),
    )
    for name, value, limit in limits:
        if limit is not None and value >= limit:
            return f"{name}: {value} of {limit}"
    return None

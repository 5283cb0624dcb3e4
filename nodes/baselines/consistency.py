"""Answer-consistency filter (CoT-Self-Instruct, verifiable tasks).

The strong solver answers the generated question K times; the item is kept only when the majority answer
(up to equivalence) holds at least half of the K samples (self-consistency) and agrees with the generated
reference answer (answer-consistency), as CoT-Self-Instruct filters (METHOD.md section 6). The samples are
drawn in parallel with `Send`, separately from the scoring samples, so filtering does not reuse (and bias) the
scores.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.solver import solve
from autodata.rules.scoring import equivalent, majority_answer
from autodata.state.baselines import (
    BaselineContext,
    BaselineState,
    ConsistencyCheck,
)
from autodata.state.self_instruct import SolveTask


def baseline_context(runtime: Any) -> BaselineContext:
    context = getattr(runtime, "context", None)
    if isinstance(context, BaselineContext):
        return context
    if context is None:
        return BaselineContext()
    return BaselineContext.model_validate(context if isinstance(context, dict) else context.model_dump())


def consistency_sends(state: BaselineState, runtime: Any) -> list[Send]:
    ctx = baseline_context(runtime)
    return [
        Send("consistency_solver", SolveTask(role="strong", sample_index=i, round=state.round, item=state.item,
                                             document=state.document, prompt=ctx.arrangement.solver_prompt))
        for i in range(ctx.consistency_samples)
    ]  # fmt: skip


async def consistency_sample(task: SolveTask, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    """One strong-solver sample, kept apart from the scoring attempts (its usage still counts as strong)."""
    update = await solve(task, runtime, provider=provider)
    return {**update, "attempts": [], "consistency_attempts": update["attempts"]}


def holds_half(votes: int, samples: int) -> bool:
    """Self-consistency: the majority answer has at least 50% of the K samples drawn (failed samples count)."""
    return samples > 0 and 2 * votes >= samples


def check_consistency(state: BaselineState) -> ConsistencyCheck:
    answers = [a.final_answer for a in state.consistency_attempts if not a.error]
    majority, votes = majority_answer(answers)
    samples = len(state.consistency_attempts)
    self_consistent = majority is not None and holds_half(votes, samples)
    agrees = self_consistent and equivalent(majority, state.item.reference_answer)
    return ConsistencyCheck(
        samples=samples, majority_answer=majority, majority_votes=votes, self_consistent=self_consistent,
        agrees=agrees,
    )  # fmt: skip


async def consistency_filter(state: BaselineState) -> dict[str, Any]:
    return {"consistency": check_consistency(state)}

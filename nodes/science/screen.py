"""Screening (orchestrator): ranks the round's well-formed candidates and keeps the top `evaluate_top` for
the solvers, because evaluation is the expensive step. The others are recorded with the screen's reason.

The ranking is applied in code: unknown or repeated numbers are ignored, and candidates the model left out
rank after the ones it named, in drafting order. If the ranking is malformed the first candidates in drafting
order go on; an endpoint failure stops the document (resumed from its checkpoint on the next run).
"""

from __future__ import annotations

from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.science.common import science_context, science_metadata
from autodata.state.schemas import RoleUsage, RoundOutcome
from autodata.state.science_outputs import ScreenRanking
from autodata.state.science import ScienceCandidate, ScienceContext, ScienceState


def _ranked(valid: list[ScienceCandidate], ranking: ScreenRanking | None) -> list[tuple[ScienceCandidate, str]]:
    by_number = {c.index + 1: c for c in valid}
    ordered: list[tuple[ScienceCandidate, str]] = []
    for entry in ranking.ranking if ranking else []:
        candidate = by_number.pop(entry.candidate, None)
        if candidate is not None:
            ordered.append((candidate, entry.reason.strip()))
    return ordered + [(c, "not ranked by the screen") for c in by_number.values()]


async def _ranking(
    state: ScienceState, ctx: ScienceContext, valid: list[ScienceCandidate], provider: ModelProvider
) -> tuple[ScreenRanking | None, RoleUsage, str | None]:
    """(the screen's ranking or None, usage, the call's error or None)."""
    if len(valid) <= ctx.evaluate_top:
        return None, RoleUsage(), None  # nothing to choose between
    messages = prompt_library(ctx.prompts_dir).messages(
        "screen_science", document=state.document, candidates=valid, evaluate_top=ctx.evaluate_top
    )
    result = await provider.structured(
        "orchestrator", ScreenRanking, messages, metadata=science_metadata(state, ctx, stage="screen")
    )
    result.raise_if_endpoint_failed()  # retried on the next run; a malformed ranking keeps the drafting order
    return (result.value if result.ok else None), result.usage, (None if result.ok else f"screen: {result.error}")


async def screen(state: ScienceState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = science_context(runtime)
    candidates = state.round_candidates()
    valid = [c for c in candidates if c.status == "selected"]
    ranking, usage, error = await _ranking(state, ctx, valid, provider)
    decided: dict[int, ScienceCandidate] = {}
    for rank, (candidate, reason) in enumerate(_ranked(valid, ranking), start=1):
        kept = rank <= ctx.evaluate_top
        note = reason if ranking else ("screen reply unusable; drafting order kept" if error else "")
        decided[candidate.index] = candidate.model_copy(update={
            "screen_rank": rank, "status": "selected" if kept else "screened_out", "screen_reason": note,
            "reasons": [] if kept else [f"screen: ranked {rank} of {len(valid)}: {note}"],
        })  # fmt: skip
    screened = [decided.get(c.index, c) for c in candidates]
    update: dict[str, Any] = {"screened": screened, **usage_update("orchestrator", usage)}
    if error:
        update["round_error"] = error
    if not valid:
        rejected = any(c.status == "format_rejected" for c in candidates)
        update["outcome"] = RoundOutcome.FAILED_QUALITY_CHECK if rejected else RoundOutcome.MODEL_ERROR
    return update

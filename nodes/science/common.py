"""Helpers the science graph's nodes share: their context, trace metadata, and closing a round's record."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from autodata.state.schemas import RoundOutcome
from autodata.state.science import CandidateResult, ScienceContext, ScienceRoundRecord, ScienceState

# One per challenger of a round, in order; a round with fewer challengers uses the first ones.
STRATEGIES: tuple[str, ...] = (
    "Reverse the seed: give what it asked for and ask for a quantity it gave, or for the condition that makes "
    "a stated outcome happen.",
    "Add one reasoning step that joins a second principle to the seed's, so a one-formula answer goes wrong.",
    "Generalise: replace the seed's numbers by symbols and ask for the exact closed form or a limiting case.",
    "Ask for a named law, effect, compound, theorem or regime that careful reasoning about a new situation "
    "identifies.",
    "Build in a tempting misconception: a plausible shortcut gives a wrong answer, only careful reasoning gives "
    "the right one.",
)


def science_context(runtime: Any) -> ScienceContext:
    """The graph's context as ScienceContext; a plain RunContext or dict (LangGraph API) is widened to it."""
    context = getattr(runtime, "context", None)
    if isinstance(context, ScienceContext):
        return context
    if isinstance(context, BaseModel):
        context = context.model_dump()
    return ScienceContext.model_validate(context or {})


def science_metadata(state: ScienceState, ctx: ScienceContext, **extra: Any) -> dict[str, Any]:
    return {"task": ctx.task, "document_id": state.document.doc_id, "round": state.round, "run_id": ctx.run_id, **extra}


def correct_share(correct: int, samples: int) -> float | None:
    return correct / samples if samples else None


def close_round(
    state: ScienceState,
    outcome: RoundOutcome,
    *,
    results: list[CandidateResult],
    diagnosis: str = "",
    accepted: CandidateResult | None = None,
) -> ScienceRoundRecord:
    """The round's trajectory record; its weak/strong shares are those of the accepted candidate, else of the one a
    reviewer turned down, else of the top-ranked one. A round a reviewer failed carries the review's rule."""
    reviewed = state.reviewed.index if state.reviewed is not None else None
    headline = accepted or next((r for r in results if r.candidate == reviewed), results[0] if results else None)
    return ScienceRoundRecord(
        round=state.round,
        candidates=state.screened or state.round_candidates(),
        attempts=state.round_attempts(),
        checks=state.round_checks(),
        results=results,
        accepted_candidate=accepted.candidate if accepted else None,
        weak_avg=correct_share(headline.weak_correct, headline.weak_samples) if headline else None,
        strong_avg=correct_share(headline.strong_correct, headline.strong_samples) if headline else None,
        outcome=outcome,
        rule=state.rule,
        diagnosis=diagnosis,
        error=state.round_error,
    )

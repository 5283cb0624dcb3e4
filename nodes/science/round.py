"""Science round start: advances the round counter, clears the round's working fields, and on the first
round reads the grounding examples (other rows of the seed's file) once, so resumes never re-read them.

A round that scores again an item a reviewer edited (its reference answer) has that item as its only candidate:
no challenger drafts and no screen ranks; it goes straight to the solvers."""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.nodes.science.challenger import challenger_sends
from autodata.nodes.science.common import science_context
from autodata.nodes.science.solver import science_solver_sends
from autodata.nodes.shared.review import rescoring_an_edit
from autodata.rules.grounding import grounding_rows
from autodata.state.science import ScienceCandidate, ScienceState


def _edited_candidate(state: ScienceState, round_: int) -> ScienceCandidate | None:
    """The item a reviewer edited at the end of the previous round, as round `round_`'s only candidate."""
    if state.reviewed is None or not rescoring_an_edit(state.reviews, round_):
        return None
    return state.reviewed.model_copy(update={
        "round": round_, "status": "selected", "screen_rank": 1, "reasons": [],
        "screen_reason": "edited by a reviewer: scored again without a screen",
    })  # fmt: skip


async def start_round(state: ScienceState, runtime: Any) -> dict[str, Any]:
    ctx = science_context(runtime)
    round_ = state.round + 1
    update: dict[str, Any] = {
        "round": round_, "screened": [], "results": [], "outcome": None, "round_error": None, "rule": None,
        "reviewed": None,
    }  # fmt: skip
    if state.round == 0:
        update["grounding"] = grounding_rows(state.document.path, state.document.title, ctx.grounding_examples)
    edited = _edited_candidate(state, round_)
    if edited is not None:
        update.update(candidates=[edited], screened=[edited])
    return update


def round_sends(state: ScienceState, runtime: Any) -> list[Send]:
    """The round's first work: the parallel challengers, or the solvers on a reviewer's edited item."""
    if rescoring_an_edit(state.reviews, state.round) and state.selected():
        return science_solver_sends(state, runtime)
    return challenger_sends(state, runtime)

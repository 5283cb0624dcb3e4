"""Science round start: advances the round counter, clears the round's working fields, and on the first
round reads the grounding examples (other rows of the seed's file) once, so resumes never re-read them."""

from __future__ import annotations

from typing import Any

from autodata.rules.grounding import grounding_rows
from autodata.nodes.science.common import science_context
from autodata.state.science import ScienceState


async def start_round(state: ScienceState, runtime: Any) -> dict[str, Any]:
    ctx = science_context(runtime)
    update: dict[str, Any] = {
        "round": state.round + 1, "screened": [], "results": [], "outcome": None, "round_error": None,
    }  # fmt: skip
    if state.round == 0:
        update["grounding"] = grounding_rows(state.document.path, state.document.title, ctx.grounding_examples)
    return update

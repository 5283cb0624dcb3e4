"""Diagnostic packet (code): aggregates, per-sample and per-criterion results, the per-capability table
and the post-filter flags, for the loop judge and, on an improve round, for the writer."""

from __future__ import annotations

from typing import Any

from autodata.rules.legal_diagnostics import build_packet
from autodata.rules.legal_shape import post_filter_flags
from autodata.nodes.legal.common import legal_context
from autodata.state.legal import LegalState


async def diagnose(state: LegalState, runtime: Any) -> dict[str, Any]:
    ctx = legal_context(runtime)
    previous = next((r.item for r in reversed(state.rounds) if r.item is not None), None)
    packet = build_packet(
        state.item,
        [a for a in state.attempts if a.round == state.round],
        [s for s in state.scores if s.round == state.round],
        post_filter_flags(state.item.question, ctx.shape),
        previous=previous,
    )
    return {"packet": packet}

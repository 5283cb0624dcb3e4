"""Analyzer: a model reads the parent's minibatch trajectories and the run's memory and writes a root-cause
analysis of the failures.

The trajectories are given whole (items, verdicts, every answer, per-criterion hits); when they exceed the
`--digest-tokens` budget, autodata/meta/digest.py condenses rounds (to their summary, then to one line)
instead of leaving any out. How they were packed is recorded with the iteration and told to the analyzer.
"""

from __future__ import annotations

from typing import Any

from autodata.meta.digest import DigestLimits, PackedDigest, pack_trajectories
from autodata.meta.memory import EMPTY_MEMORY
from autodata.nodes.shared.common import prompt_library
from autodata.nodes.meta.common import MetaServices, add_usage, meta_context, meta_role
from autodata.engine.rundir import RunDirectory
from autodata.llm.settings import EMBEDDED
from autodata.state.meta import IterationState

# The embedded model's context is 8,192 tokens: the digest leaves room for the prompt and the analysis.
EMBEDDED_DIGEST_TOKENS = 4_000


def packing_note(packed: PackedDigest) -> str:
    note = f"Digest: all {packed.rounds_total} rounds (about {packed.tokens} tokens)"
    summarised, lines = packed.condensed_to("summary"), packed.condensed_to("line")
    if not summarised and not lines:
        return note + ", every answer whole."
    parts = [f"{summarised} condensed to their summary (answers left out)"] if summarised else []
    parts += [f"{lines} to one line" if summarised else f"{lines} condensed to one line"] if lines else []
    return f"{note}; to fit the budget {', '.join(parts)}; the others in full."


def digest_budget(provider: Any, role: str, wanted: int) -> int:
    return min(wanted, EMBEDDED_DIGEST_TOKENS) if provider.settings.role(role).model == EMBEDDED else wanted


async def analyze(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    batch = state.minibatch
    provider = services.provider
    scope = services.scope(ctx)
    role = meta_role(provider, "analyzer")
    limits = DigestLimits(token_budget=digest_budget(provider, role, ctx.digest_tokens))
    packed = pack_trajectories(RunDirectory(batch.run_dir).trajectories(), limits)
    messages = prompt_library(None).messages(
        "analyzer",
        task=ctx.task,
        documents=batch.documents,
        accepted=batch.accepted,
        outcome_counts=", ".join(f"{name} {count}" for name, count in packed.outcomes.most_common()) or "none",
        packing=packing_note(packed),
        memory=state.memory or EMPTY_MEMORY,
        digest=packed.text or "(no trajectories were recorded)",
        editable=[f"{name}.md" for name in scope.editable_names()],
        frozen=[f"{name}.md" for name in scope.frozen_names()],
    )
    result = await provider.text(role, messages, metadata={"meta_role": "analyzer", "iteration": state.iteration})
    usage = add_usage(state.usage, "analyzer", result.usage)
    analysis = (result.value or "").strip()
    update: dict[str, Any] = {"usage": usage, "packing": packed.packing()}
    if not result.ok or not analysis:
        return {**update, "error": f"analyzer: {result.error or 'empty analysis'}"}
    return {**update, "analysis": analysis}

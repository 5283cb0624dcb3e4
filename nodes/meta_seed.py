"""Seed: the root version (the starting prompts) and its validation score, once per optimization."""

from __future__ import annotations

from typing import Any

from autodata.corpus import SourcesError
from autodata.nodes.meta_common import (
    documents,
    evaluate_version,
    meta_context,
    version_store,
)
from autodata.prompt_versions import ROOT_ID
from autodata.state.meta_state import MetaState, PromptVersion


async def seed_population(state: MetaState, runtime: Any) -> dict[str, Any]:
    if state.versions:
        return {}
    ctx = meta_context(runtime)
    validation = documents(ctx, "validation")
    if not validation or not documents(ctx, "minibatch"):
        raise SourcesError(f"need usable training ({ctx.train}) and validation ({ctx.val}) documents")
    path = version_store(ctx).create_root(ctx.base_prompts)
    evaluation = await evaluate_version(ctx, ROOT_ID, validation, "validation", 0)
    root = PromptVersion(id=ROOT_ID, parent=None, iteration=0, path=str(path), status="root")
    return {"versions": [root], "evaluations": [evaluation]}

"""Seed: the root version (the starting prompts) and its validation score (over `repeats` runs), once per
optimization."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autodata.engine.corpus import SourcesError
from autodata.nodes.meta.common import (
    MetaServices,
    documents,
    evaluate_repeats,
    meta_context,
    version_store,
)
from autodata.prompting.versions import ROOT_ID
from autodata.engine.rundir import write_json_atomic
from autodata.state.meta import MetaContext, MetaState, PromptVersion

SPLITS_FILE = "splits.json"


def write_splits(ctx: MetaContext, services: MetaServices) -> None:
    """Which documents are in which split, for the audit (the test split stays unseen until the end)."""
    splits = {
        split: [doc.doc_id for doc in documents(ctx, split, services)] for split in ("minibatch", "validation", "test")
    }
    Path(ctx.run_dir).mkdir(parents=True, exist_ok=True)
    record = {"train": splits["minibatch"], "validation": splits["validation"], "test": splits["test"]}
    write_json_atomic(Path(ctx.run_dir) / SPLITS_FILE, record)


async def seed_population(state: MetaState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    """The root version (the task's prompts from --prompts or the shipped ones) and its validation score."""
    if state.versions:
        return {}
    ctx = meta_context(runtime)
    if ctx.task != services.prompts.task:  # e.g. a Studio context naming another task than the served graph's
        raise ValueError(f"this meta-optimizer evaluates the {services.prompts.task} task, not {ctx.task!r}")
    started = time.time()
    validation = documents(ctx, "validation", services)
    if not validation or not documents(ctx, "minibatch", services):
        where = ctx.sources or f"{ctx.train} and {ctx.val}"
        raise SourcesError(f"need usable training and validation documents ({where})")
    write_splits(ctx, services)
    path = version_store(ctx, services).create_root(ctx.base_prompts)
    evaluations = await evaluate_repeats(services, ctx, ROOT_ID, validation, 0)
    root = PromptVersion(id=ROOT_ID, parent=None, iteration=0, path=str(path), status="root")
    return {"versions": [root], "evaluations": evaluations, "seed_seconds": round(time.time() - started, 3)}

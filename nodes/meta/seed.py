"""Seed: the root version (the starting prompts) and its validation score, once per optimization."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from autodata.engine.batch import BatchJob
from autodata.engine.corpus import SourcesError
from autodata.nodes.meta.common import (
    documents,
    evaluate_version,
    meta_context,
    version_store,
)
from autodata.prompting.versions import ROOT_ID
from autodata.engine.rundir import write_json_atomic
from autodata.state.meta import MetaContext, MetaState, PromptVersion

SPLITS_FILE = "splits.json"


def write_splits(ctx: MetaContext) -> None:
    """Which documents are in which split, for the audit (the test split stays unseen until the end)."""
    splits = {split: [doc.doc_id for doc in documents(ctx, split)] for split in ("minibatch", "validation", "test")}
    Path(ctx.run_dir).mkdir(parents=True, exist_ok=True)
    record = {"train": splits["minibatch"], "validation": splits["validation"], "test": splits["test"]}
    write_json_atomic(Path(ctx.run_dir) / SPLITS_FILE, record)


def make_seed_population(run_batch: BatchJob) -> Callable[[MetaState, Any], Awaitable[dict[str, Any]]]:
    """The seed node, evaluating the root version with `run_batch`."""

    async def seed_population(state: MetaState, runtime: Any) -> dict[str, Any]:
        if state.versions:
            return {}
        ctx = meta_context(runtime)
        started = time.time()
        validation = documents(ctx, "validation")
        if not validation or not documents(ctx, "minibatch"):
            where = ctx.sources or f"{ctx.train} and {ctx.val}"
            raise SourcesError(f"need usable training and validation documents ({where})")
        write_splits(ctx)
        path = version_store(ctx).create_root(ctx.base_prompts)
        evaluation = await evaluate_version(run_batch, ctx, ROOT_ID, validation, "validation", 0)
        root = PromptVersion(id=ROOT_ID, parent=None, iteration=0, path=str(path), status="root")
        return {"versions": [root], "evaluations": [evaluation], "seed_seconds": round(time.time() - started, 3)}

    return seed_population

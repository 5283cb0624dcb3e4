"""Final test: the best version (by pooled validation score) and the root run once on the test split.

The test split is never run during the search, so its pass rate is an unbiased estimate for the version the
search selected (the validation score it was selected on is biased upward). It runs once per finished
optimization: a resumed run that finds the pair already scored at this iteration count does not repeat it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from autodata.engine.batch import BatchJob
from autodata.meta.budget import stop_reason
from autodata.nodes.meta.common import documents, evaluate_version, meta_context
from autodata.prompting.versions import ROOT_ID
from autodata.state.meta import MetaState


def make_final_test(run_batch: BatchJob) -> Callable[[MetaState, Any], Awaitable[dict[str, Any]]]:
    """The final-test node, evaluating with `run_batch`."""

    async def final_test(state: MetaState, runtime: Any) -> dict[str, Any]:
        ctx = meta_context(runtime)
        update: dict[str, Any] = {"stop_reason": stop_reason(ctx, state)}
        test = documents(ctx, "test")
        best = state.best_version()
        if not test or best is None:
            return update
        done = len(state.iterations)
        scored = {e.version for e in state.test_evaluations() if e.iteration == done}
        wanted = [version for version in dict.fromkeys((best, ROOT_ID)) if version not in scored]
        evaluations = await asyncio.gather(
            *(evaluate_version(run_batch, ctx, version, test, "test", done) for version in wanted)
        )
        return {**update, "evaluations": list(evaluations)}

    return final_test

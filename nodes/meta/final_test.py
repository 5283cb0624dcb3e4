"""Final test: the best version (by pooled validation score) and the root run once on the test split.

The test split is never run during the search, so its pass rate is an unbiased estimate for the version the
search selected (the validation score it was selected on is biased upward). It runs once per finished
optimization: a resumed run that finds the pair already scored at this iteration count does not repeat it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from autodata.meta.budget import stop_reason
from autodata.nodes.meta.common import MetaServices, documents, evaluate_version, meta_context
from autodata.prompting.versions import ROOT_ID
from autodata.state.meta import MetaState


async def final_test(state: MetaState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    update: dict[str, Any] = {"stop_reason": stop_reason(ctx, state)}
    test = documents(ctx, "test", services)
    best = state.best_version()
    if not test or best is None:
        return update
    done = len(state.iterations)
    scored = {e.version for e in state.test_evaluations() if e.iteration == done}
    wanted = [version for version in dict.fromkeys((best, ROOT_ID)) if version not in scored]
    evaluations = await asyncio.gather(
        *(evaluate_version(services, ctx, version, test, "test", done) for version in wanted)
    )
    return {**update, "evaluations": list(evaluations)}

"""An interrupted optimization resumes from its checkpoint: no step is redone, no version or line repeats."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from autodata.meta.optimize import OptimizeError
from tests.support.meta_script import MetaScript, meta_context, meta_provider, run_meta


class BlockingAnalyzer(MetaScript):
    """Holds the second analyzer call (iteration 2) until released, so the run can be cut off inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.inside_iteration_2 = threading.Event()
        self.release = threading.Event()

    def __call__(self, role, messages, tool):
        if role == "analyzer" and len(self.calls.get("analyzer", [])) == 1:
            self.inside_iteration_2.set()
            self.release.wait(timeout=30)
        return super().__call__(role, messages, tool)


def history_iterations(run_dir) -> list[int]:
    return [json.loads(line)["iteration"] for line in (run_dir / "history.jsonl").read_text().splitlines()]


def version_dirs(run_dir) -> list[str]:
    return sorted(p.name for p in (run_dir / "versions").iterdir())


async def test_interrupted_run_resumes_without_duplicates(tmp_path):
    ctx = meta_context(tmp_path)
    run_dir = tmp_path / "run"
    first = BlockingAnalyzer()
    provider = meta_provider(first)
    task = asyncio.create_task(run_meta(ctx, 2, provider))
    while not first.inside_iteration_2.is_set():
        await asyncio.sleep(0.02)
    task.cancel()  # what Ctrl-C does to the event loop
    with pytest.raises(asyncio.CancelledError):
        await task
    first.release.set()
    # Iteration 1 was recorded before the interruption; iteration 2 had run its minibatch.
    assert history_iterations(run_dir) == [0, 1]
    assert version_dirs(run_dir) == ["v0000", "v0001"]

    second = MetaScript()
    provider = meta_provider(second)
    state = await run_meta(ctx, 2, provider)
    assert [r.iteration for r in state.iterations] == [1, 2]
    assert history_iterations(run_dir) == [0, 1, 2]
    assert version_dirs(run_dir) == ["v0000", "v0001", "v0002"]
    assert len({(e.version, e.split, e.iteration) for e in state.evaluations}) == len(state.evaluations) == 8
    # The resumed run picked up inside iteration 2: analysis onwards, the minibatch was not run again.
    assert len(second.calls["analyzer"]) == 1 and len(second.calls["implementer"]) == 1
    assert len(second.calls["challenger"]) == 4  # parent and child on the 2 validation documents only

    # Running the finished command again does no work; asking for more iterations carries on.
    third = MetaScript()
    provider = meta_provider(third)
    again = await run_meta(ctx, 2, provider)
    assert third.calls == {} and len(again.iterations) == 2
    more = await run_meta(ctx, 3, provider)
    assert [r.iteration for r in more.iterations] == [1, 2, 3] and history_iterations(run_dir) == [0, 1, 2, 3]


async def test_resume_refuses_changed_options(tmp_path):
    provider = meta_provider(MetaScript())
    await run_meta(meta_context(tmp_path), 1, provider)
    with pytest.raises(OptimizeError, match="minibatch"):
        await run_meta(meta_context(tmp_path, minibatch=1), 1, provider)

"""Run a scripted optimization that parks inside iteration 2's analyzer call, for a test to kill -9.

    python -m tests.support.meta_kill TMP_PATH MARKER ITERATIONS MAX_MODEL_CALLS

The process writes MARKER once it is inside iteration 2 and then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from tests.support.meta_script import MetaScript, meta_context, meta_provider, run_meta


class ParkInIteration2(MetaScript):
    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = marker

    def __call__(self, role, messages, tool):
        if role == "analyzer" and len(self.calls.get("analyzer", [])) == 1:
            self.marker.write_text("inside iteration 2")
            time.sleep(600)  # killed here
        return super().__call__(role, messages, tool)


def main() -> None:
    tmp_path, marker, iterations, max_calls = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ctx = meta_context(tmp_path, max_model_calls=max_calls)
    asyncio.run(run_meta(ctx, iterations, meta_provider(ParkInIteration2(marker))))


if __name__ == "__main__":
    main()

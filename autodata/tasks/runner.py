"""`autodata generate`'s batch job: the batch engine (autodata/engine/batch.py) running a registered task's graph.

The task registry gives the graph's `BatchSpec` and the task's defaults (family, sample counts, preset); the
engine itself knows no task.
"""

from __future__ import annotations

from collections.abc import Callable

from autodata.engine.batch import BatchRunner, GenerateOptions, GraphInvoker
from autodata.engine.records import RunStats, item_id
from autodata.engine.rundir import RunDirectory
from autodata.llm.models import ModelProvider
from autodata.tasks import task_spec

__all__ = ["GenerateOptions", "Generator", "GraphInvoker", "RunStats", "item_id"]


class Generator(BatchRunner):
    """One `autodata generate` job of the task `options.task` names: documents in, run directory out, resumable
    (see `BatchRunner`)."""

    def __init__(
        self,
        options: GenerateOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
        invoke: GraphInvoker | None = None,
        checkpoint: bool = True,
    ) -> None:
        spec = task_spec(options.task)
        super().__init__(spec.batch, spec.options(options), provider, run_dir, on_document_done, invoke, checkpoint)

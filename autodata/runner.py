"""`autodata generate`'s batch job: the core batch engine (autodata/batch.py) running the self_instruct graph."""

from __future__ import annotations

from collections.abc import Callable

from autodata.batch import BatchRunner, GenerateOptions, GraphInvoker
from autodata.batch_records import RunStats, item_id
from autodata.graphs.self_instruct import SELF_INSTRUCT_BATCH
from autodata.models import ModelProvider
from autodata.rundir import RunDirectory

__all__ = ["GenerateOptions", "Generator", "GraphInvoker", "RunStats", "item_id"]


class Generator(BatchRunner):
    """One `autodata generate` job: documents in, run directory out, resumable (see `BatchRunner`)."""

    def __init__(
        self,
        options: GenerateOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
        invoke: GraphInvoker | None = None,
        checkpoint: bool = True,
    ) -> None:
        super().__init__(SELF_INSTRUCT_BATCH, options, provider, run_dir, on_document_done, invoke, checkpoint)

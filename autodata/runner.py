"""`autodata generate`'s batch job: the core batch engine (autodata/batch.py) running the task's graph, as the
task registry names it (autodata/tasks.py `TaskSpec.graph`): self_instruct, or science_reasoning for science."""

from __future__ import annotations

from collections.abc import Callable

from autodata.batch import BatchRunner, BatchSpec, GenerateOptions, GraphInvoker
from autodata.batch_records import RunStats, item_id
from autodata.graphs.science import SCIENCE_BATCH
from autodata.graphs.self_instruct import SELF_INSTRUCT_BATCH
from autodata.models import ModelProvider
from autodata.rundir import RunDirectory
from autodata.tasks import task_spec

__all__ = ["GenerateOptions", "Generator", "GraphInvoker", "RunStats", "item_id", "task_batch"]

# The graphs a task may name, by their langgraph.json names.
TASK_GRAPHS: dict[str, BatchSpec] = {spec.name: spec for spec in (SELF_INSTRUCT_BATCH, SCIENCE_BATCH)}


def task_batch(task: str) -> BatchSpec:
    """How the batch engine runs the graph that makes `task`'s items."""
    return TASK_GRAPHS[task_spec(task).graph]


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
        super().__init__(task_batch(options.task), options, provider, run_dir, on_document_done, invoke, checkpoint)

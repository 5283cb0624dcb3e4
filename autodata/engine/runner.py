"""`autodata generate`'s batch job: the core batch engine (autodata/batch.py) running the task's graph.

The task registry (autodata/tasks.py) names each task's graph; `BATCH_SPECS` maps that name to the graph's
`BatchSpec` (defined next to the graph): self_instruct for cs-research, legal_reasoning for legal,
science_reasoning for science.
"""

from __future__ import annotations

from collections.abc import Callable

from autodata.engine.batch import BatchRunner, BatchSpec, GenerateOptions, GraphInvoker
from autodata.engine.records import RunStats, item_id
from autodata.graphs.legal import LEGAL_BATCH
from autodata.graphs.science import SCIENCE_BATCH
from autodata.graphs.self_instruct import SELF_INSTRUCT_BATCH
from autodata.llm.models import ModelProvider
from autodata.engine.rundir import RunDirectory
from autodata.tasks import task_spec

__all__ = ["BATCH_SPECS", "GenerateOptions", "Generator", "GraphInvoker", "RunStats", "batch_spec_for", "item_id"]

# Graph name (TaskSpec.graph, as langgraph.json serves it) -> how the batch engine runs that graph.
BATCH_SPECS: dict[str, BatchSpec] = {spec.name: spec for spec in (SELF_INSTRUCT_BATCH, LEGAL_BATCH, SCIENCE_BATCH)}


def batch_spec_for(task: str) -> BatchSpec:
    """The spec of the graph the task registry names for `task`."""
    return BATCH_SPECS[task_spec(task).graph]


class Generator(BatchRunner):
    """One `autodata generate` job of the task's graph: documents in, run directory out, resumable (see
    `BatchRunner`)."""

    def __init__(
        self,
        options: GenerateOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
        invoke: GraphInvoker | None = None,
        checkpoint: bool = True,
    ) -> None:
        super().__init__(batch_spec_for(options.task), options, provider, run_dir, on_document_done, invoke, checkpoint)

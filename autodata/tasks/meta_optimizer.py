"""The meta-optimizer over one task: the task's own graph to evaluate and its prompts, from the registry.

graphs/meta_optimizer.py knows no task; `autodata optimize --task T` and the graph `langgraph dev` serves
(langgraph.json `meta_optimizer`) bind it to one here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from langgraph.graph import StateGraph

from autodata.engine.batch import BatchJob, GenerateOptions, batch_job
from autodata.engine.records import RunStats
from autodata.engine.rundir import RunDirectory
from autodata.graphs.meta_optimizer import build_meta_optimizer
from autodata.llm.models import ModelProvider
from autodata.meta.outputs import write_outputs
from autodata.nodes.meta.record import OutputWriter
from autodata.prompting.versions import PromptScope
from autodata.state.schemas import SourceDocument
from autodata.tasks import task_spec
from autodata.tasks.spec import TaskSpec

# The task the served graph optimizes (a Studio run's context must name it too).
SERVED_TASK = "cs-research"


def prompt_scope(spec: TaskSpec) -> PromptScope:
    """The prompts the task's graph reads, split as the task declares: editable, and frozen (the grader)."""
    meta = spec.meta
    return PromptScope(
        task=spec.name, editable=tuple(meta.editable_prompts), frozen=tuple(meta.frozen_prompts),
        render_samples=meta.render_samples,
    )  # fmt: skip


def task_batch_job(spec: TaskSpec) -> BatchJob:
    """The task's graph as `generate --task` runs it: its sample counts, preset and TOML section under what the
    evaluation sets."""
    run = batch_job(spec.meta.batch)

    async def run_task(
        options: GenerateOptions, provider: ModelProvider, run_dir: RunDirectory, documents: Sequence[SourceDocument]
    ) -> RunStats:
        section = provider.settings.graph_settings.get(spec.section, {}) if spec.section else {}
        return await run(replace(spec.options(options), graph_settings=section), provider, run_dir, documents)

    return run_task


def meta_optimizer_for(spec: TaskSpec, provider: ModelProvider, write: OutputWriter = write_outputs) -> StateGraph:
    """The uncompiled meta-optimizer that evaluates `spec`'s own graph and edits its editable prompts."""
    return build_meta_optimizer(task_batch_job(spec), prompt_scope(spec), provider, write)


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
# Settings are read, and an embedded server started, on the first model call, not at import.
graph = meta_optimizer_for(task_spec(SERVED_TASK), ModelProvider.from_environment()).compile(name="meta_optimizer")

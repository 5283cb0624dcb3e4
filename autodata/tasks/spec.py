"""What a task is, declared once: the `TaskSpec` every task module fills in, and the pieces it is made of.

A task names the graph that makes its items (a `BatchSpec`: builder, served name, context type, rows and
dataset columns), its TOML section, default sample counts and acceptance preset, the solver prompt that
generation, grading, training and evaluation all answer its items with, the prompts the meta-optimizer may
edit and the graph it evaluates, how a baseline of the task is filtered and graded, its report section and its
demo sources. The engine, settings, run directory, report and CLI ask the registry (`autodata.tasks`) for these
instead of naming tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from autodata.engine.batch import BatchSpec, GenerateOptions
from autodata.prompting.versions import RenderSamples, no_render_samples
from autodata.report.sections import ReportSection
from autodata.state.baselines import BaselineArrangement
from autodata.state.context import SolverSamples, TaskDefaults
from autodata.state.policy import DEFAULT_PRESET
from autodata.state.schemas import TaskFamily


@dataclass(frozen=True)
class MetaSpec:
    """What `autodata optimize --task T` evaluates and may change."""

    batch: BatchSpec  # the graph each candidate prompt version is evaluated with (the task's own)
    editable_prompts: tuple[str, ...]  # prompt files a version may change
    frozen_prompts: tuple[str, ...]  # the rest of the files the graph reads (the grader): never changed
    # What the graph's nodes pass each editable prompt: an edited file is rendered with it before it is used.
    render_samples: RenderSamples = no_render_samples


@dataclass(frozen=True)
class TaskSpec:
    name: str  # as `--task` takes it
    family: TaskFamily
    description: str  # one line, shown in `--task` help
    batch: BatchSpec  # the graph the batch engine runs; batch.name is its langgraph.json name
    solver_prompt: str  # what generation, `grade`, `train` and `eval` answer the task's items with
    samples: tuple[int, int]  # (weak, strong) answers per round when a run sets none
    baseline: BaselineArrangement  # how a baseline set of the task is filtered and scored
    meta: MetaSpec
    preset: str = DEFAULT_PRESET  # the acceptance preset when a run names none
    section: str | None = None  # the TOML section (`[<section>]`) of the task's own knobs; read by its context type
    report_section: ReportSection | None = None
    demo_sources: str = ""  # `autodata demo`'s documents, relative to the corpora folder
    # The task's extra command behind `autodata rate-suitability` (run dir, prompts dir) -> summary; None: none.
    rate_suitability: Callable[..., Any] | None = None
    # The folder of the task's own prompt files, for a task defined outside the package (the shipped tasks' are
    # in autodata/prompts/): looked up after the shipped folder, by generation, grading and the meta-optimizer.
    prompts_dir: Path | None = None

    @property
    def graph(self) -> str:
        """The served graph's name (langgraph.json)."""
        return self.batch.name

    @property
    def context_type(self) -> type[SolverSamples]:
        return self.batch.context_type

    @property
    def defaults(self) -> TaskDefaults:
        return TaskDefaults(self.family, self.samples, self.preset, self.description)

    def options(self, options: GenerateOptions) -> GenerateOptions:
        """`options` with this task's defaults under what the run sets."""
        return replace(options, task=self.name, defaults=self.defaults)

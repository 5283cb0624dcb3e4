"""The task registry: every task declared once, and what the rest of the package reads from it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest

from autodata.engine.batch import GenerateOptions
from autodata.llm.settings import ConfigError, load_settings
from autodata.state.baselines import Method
from autodata.state.context import RunContext
from autodata.state.schemas import TaskFamily
from autodata.tasks import TASKS, UnknownTaskError, register_task, task_sections, task_spec, unregister_task
from autodata.tasks.baselines import baseline_batch

REPO = Path(__file__).resolve().parents[3]
META_OPTIMIZER = ("meta_optimizer", "./autodata/tasks/meta_optimizer.py:graph")  # the per-task optimizer


def served_graphs() -> dict[str, str]:
    return json.loads((REPO / "langgraph.json").read_text())["graphs"]


def module_path(function) -> str:
    """autodata.graphs.legal -> ./graphs/legal.py (the installed name of the graphs/ folder)."""
    return "./" + function.__module__.removeprefix("autodata.").replace(".", "/") + ".py"


def test_every_task_graph_is_served_under_its_name_from_its_builders_module():
    served = served_graphs()
    for spec in TASKS.values():
        assert served.get(spec.graph) == f"{module_path(spec.batch.build)}:graph", spec.name


def test_every_served_graph_is_a_tasks_a_baselines_or_the_meta_optimizer():
    expected = {spec.graph: f"{module_path(spec.batch.build)}:graph" for spec in TASKS.values()}
    for method in get_args(Method):
        batch = baseline_batch(method, task_spec("cs-research").baseline)
        expected[batch.name] = f"{module_path(batch.build.func)}:{batch.name}"
    expected[META_OPTIMIZER[0]] = META_OPTIMIZER[1]
    assert served_graphs() == expected


def test_each_task_declares_its_solver_prompt_samples_and_meta_scope():
    assert {name: spec.solver_prompt for name, spec in TASKS.items()} == {
        "cs-research": "solver_rubric", "legal": "solver_legal", "science": "solver_verifiable",
    }  # fmt: skip
    assert {name: spec.samples for name, spec in TASKS.items()} == {
        "cs-research": (3, 3), "legal": (5, 3), "science": (4, 4),
    }  # fmt: skip
    legal = task_spec("legal")
    assert legal.meta.batch is legal.batch and "writer_legal" in legal.meta.editable_prompts
    assert "solver_legal" in legal.meta.frozen_prompts and legal.solver_prompt in legal.meta.frozen_prompts
    for spec in TASKS.values():  # the meta-optimizer's scope covers exactly the files the task's graph reads
        read = spec.batch.prompt_names(spec.name, spec.family.value)
        assert set(spec.meta.editable_prompts) | set(spec.meta.frozen_prompts) == set(read), spec.name
        assert spec.solver_prompt in read, spec.name


def test_an_unknown_task_names_the_choices():
    with pytest.raises(UnknownTaskError, match="cs-research, legal, science"):
        task_spec("poetry")


def test_a_context_built_through_the_registry_carries_the_tasks_defaults():
    for spec in TASKS.values():
        ctx = spec.options(GenerateOptions(task=spec.name)).context(spec.context_type)
        assert ctx.task_family is spec.family and (ctx.weak_samples, ctx.strong_samples) == spec.samples
    # A baseline's context is the generic one: the family, counts and preset still come from the task.
    science = task_spec("science").options(GenerateOptions(task="science")).context(RunContext)
    assert science.task_family is TaskFamily.VERIFIABLE and science.policy.preset == "deployed"
    legal = task_spec("legal").options(GenerateOptions(task="legal")).context(RunContext)
    assert (legal.weak_samples, legal.strong_samples, legal.policy.preset) == (5, 3, "prose")
    explicit = task_spec("legal").options(GenerateOptions(task="legal", samples=2, weak_samples=4))
    assert (explicit.context(RunContext).weak_samples, explicit.context(RunContext).strong_samples) == (4, 2)


def test_a_registered_task_brings_its_own_toml_section(tmp_path):
    cs = task_spec("cs-research")
    fourth = register_task(replace(cs, name="fourth", section="fourth", batch=replace(cs.batch, context_type=RunContext)))
    try:
        assert task_sections()["fourth"] is RunContext
        config = tmp_path / "autodata.toml"
        config.write_text("[fourth]\nnot_a_knob = 1\n")
        with pytest.raises(ConfigError, match=r"\[fourth\]: unknown key"):  # RunContext has no knobs of its own
            load_settings(config, env={}, sections=task_sections())
        config.write_text("[fifth]\ncandidates = 3\n")
        with pytest.raises(ConfigError, match="unknown section"):
            load_settings(config, env={}, sections=task_sections())
        with pytest.raises(ValueError, match="already belongs"):
            register_task(replace(fourth, name="fifth"))
    finally:
        unregister_task("fourth")
    assert "fourth" not in TASKS

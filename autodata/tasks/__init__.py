"""The task registry: every task users pass to `--task`, each declared once in its own module here.

A task module (cs_research.py, legal/, science/) builds one `TaskSpec` (autodata/tasks/spec.py): its graph's
`BatchSpec`, context type and TOML section, sample counts, preset, solver prompt, meta-optimizer scope,
baseline arrangement, report section and demo sources. Everything else asks this registry; a new task is a new
module plus `register_task` (tests register one of their own that way).

A task defined outside the package registers itself when its module is imported: the modules named in the
`AUTODATA_TASKS` environment variable (comma-separated import paths) are imported once this registry is built,
so every command and served graph sees their tasks.
"""

from __future__ import annotations

import importlib
import os

from autodata.llm.settings import TaskSections
from autodata.prompting.library import add_prompt_folder, remove_prompt_folder
from autodata.report.sections import ReportSection
from autodata.tasks import cs_research, legal, science
from autodata.tasks.spec import MetaSpec, TaskSpec

__all__ = [
    "TASKS", "TASK_MODULES_ENV", "MetaSpec", "TaskSpec", "UnknownTaskError", "import_task_modules", "register_task",
    "report_sections", "task_choices", "task_samples", "task_sections", "task_spec", "unregister_task",
]  # fmt: skip

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (cs_research.TASK, legal.TASK, science.TASK)}


class UnknownTaskError(ValueError):
    pass


def task_spec(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task (or replace one of the same name); its TOML section must not be another task's."""
    taken = {other.section: other.name for other in TASKS.values() if other.section and other.name != spec.name}
    if spec.section in taken:
        raise ValueError(f"section [{spec.section}] already belongs to task {taken[spec.section]!r}")
    if spec.prompts_dir is not None:
        add_prompt_folder(spec.prompts_dir)
    TASKS[spec.name] = spec
    return spec


def unregister_task(name: str) -> None:
    spec = TASKS.pop(name, None)
    if spec is not None and spec.prompts_dir is not None:
        remove_prompt_folder(spec.prompts_dir)


def task_sections() -> TaskSections:
    """Each task's TOML section and the context type that reads it, for `load_settings`."""
    return {spec.section: spec.context_type for spec in TASKS.values() if spec.section}


def report_sections() -> list[ReportSection]:
    """Each task's own report section, in registry order."""
    return [spec.report_section for spec in TASKS.values() if spec.report_section]


def task_choices() -> str:
    """The tasks as `--task` help lists them."""
    return "; ".join(f"[bold]{spec.name}[/] ({spec.description})" for spec in TASKS.values())


def task_samples() -> str:
    """Each task's default weak + strong sample counts, as help texts list them."""
    return ", ".join(f"{spec.name} {spec.samples[0]} + {spec.samples[1]}" for spec in TASKS.values())


TASK_MODULES_ENV = "AUTODATA_TASKS"


def import_task_modules(value: str | None = None) -> list[str]:
    """Import the modules `AUTODATA_TASKS` names (each registers its tasks); the names imported."""
    raw = os.environ.get(TASK_MODULES_ENV, "") if value is None else value
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        importlib.import_module(name)
    return names


import_task_modules()

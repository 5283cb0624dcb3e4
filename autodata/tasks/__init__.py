"""The task registry: every task users pass to `--task`, each declared once in its own module here.

A task module (cs_research.py, legal/, science/) builds one `TaskSpec` (autodata/tasks/spec.py): its graph's
`BatchSpec`, context type and TOML section, sample counts, preset, solver prompt, meta-optimizer scope,
baseline arrangement, report section and demo sources. Everything else asks this registry; a new task is a new
module plus `register_task` (tests register one of their own that way).
"""

from __future__ import annotations

from autodata.llm.settings import TaskSections
from autodata.report.sections import ReportSection
from autodata.tasks import cs_research, legal, science
from autodata.tasks.spec import MetaSpec, TaskSpec

__all__ = [
    "TASKS", "MetaSpec", "TaskSpec", "UnknownTaskError", "register_task", "report_sections", "task_choices",
    "task_sections", "task_spec", "unregister_task",
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
    TASKS[spec.name] = spec
    return spec


def unregister_task(name: str) -> None:
    TASKS.pop(name, None)


def task_sections() -> TaskSections:
    """Each task's TOML section and the context type that reads it, for `load_settings`."""
    return {spec.section: spec.context_type for spec in TASKS.values() if spec.section}


def report_sections() -> list[ReportSection]:
    """Each task's own report section, in registry order."""
    return [spec.report_section for spec in TASKS.values() if spec.report_section]


def task_choices() -> str:
    """The tasks as `--task` help lists them."""
    return "; ".join(f"[bold]{spec.name}[/] ({spec.description})" for spec in TASKS.values())

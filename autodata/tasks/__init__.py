"""Task names users pass to `--task`, the family (rubric or verifiable) each belongs to, and the graph that
makes its items."""

from __future__ import annotations

from dataclasses import dataclass

from autodata.state.schemas import TaskFamily


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: TaskFamily
    description: str
    # The graph that makes the task's items, by its langgraph.json name; `autodata generate` runs that graph's
    # BatchSpec (autodata/runner.py `batch_spec_for`), `--server` submits to it.
    graph: str = "self_instruct"


TASKS: dict[str, TaskSpec] = {
    "cs-research": TaskSpec(
        "cs-research", TaskFamily.RUBRIC, "Reasoning questions grounded in computer-science papers; rubric-judged."
    ),
    "legal": TaskSpec(
        "legal", TaskFamily.RUBRIC,
        "Client questions in new scenarios built on opinions, contracts and statutes; capability rubrics, "
        "loop-judge verdicts.",
        graph="legal_reasoning",
    ),
    "science": TaskSpec(
        "science",
        TaskFamily.VERIFIABLE,
        "Math/science problems with a short answer: parallel challengers, a screen, math-verify or a judge.",
        graph="science_reasoning",
    ),
}


class UnknownTaskError(ValueError):
    pass


def task_spec(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None

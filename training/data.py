"""A run directory's items as prompt rows for GRPO and evaluation, split deterministically by item id.

`--data` accepts a run directory (train uses its train split, eval its test split), or a run directory
followed by `/train`, `/test` or `/all` to pick the split explicitly (e.g. `runs/cs1/test`), or an
items.jsonl file. An item's split depends only on its id, so train and eval agree without any state.

Each item is put to the policy through its task's solver prompt, the one its generation run's solvers used
(a legal item through the lawyer's prompt, not the research-paper one). Which prompt and family a task has
is the task registry's: the commands pass a `SolverLookup` in, training knows no task by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from autodata.prompting.library import PromptLibrary
from autodata.engine.rundir import ITEMS, read_jsonl
from autodata.state.schemas import TaskFamily
from autodata.training.errors import TrainingSetupError

Split = Literal["train", "test", "all"]
SPLITS: tuple[str, ...] = ("train", "test", "all")
TEST_FRACTION = 0.2
_ROLE_OF = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass(frozen=True)
class TaskSolver:
    """How one task's items are answered and rewarded: its family and its solver prompt."""

    family: TaskFamily
    prompt: str


# Task name -> its solver; raises TrainingSetupError for a task it does not know.
SolverLookup = Callable[[str], TaskSolver]


def split_of(item_id: str, test_fraction: float = TEST_FRACTION) -> Literal["train", "test"]:
    """Stable across runs and machines: the first 8 bytes of sha256(id) as a fraction of 2**64."""
    bucket = int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big") / 2**64
    return "test" if bucket < test_fraction else "train"


@dataclass(frozen=True)
class DataSource:
    items_file: Path
    split: Split

    @property
    def label(self) -> str:
        return f"{self.items_file.parent}/{self.split}"


def resolve_data(path: str | Path, default_split: Split) -> DataSource:
    """Where the items are and which split to use; a clear error for anything that is not a run directory."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".jsonl":
        return DataSource(path, default_split)
    if (path / ITEMS).is_file():
        return DataSource(path / ITEMS, default_split)
    if path.name in SPLITS and (path.parent / ITEMS).is_file():
        return DataSource(path.parent / ITEMS, path.name)  # type: ignore[arg-type]
    if path.is_dir():
        raise TrainingSetupError(f"{path} is not a run directory: it has no {ITEMS} (run `autodata generate` first)")
    raise TrainingSetupError(f"run directory not found: {path}")


def load_items(source: DataSource) -> list[dict[str, Any]]:
    """The usable items of the chosen split, sorted by id; rows without a question or answer are skipped."""
    rows = [row for row in read_jsonl(source.items_file) if _usable(row)]
    if source.split != "all":
        rows = [row for row in rows if split_of(str(row["id"])) == source.split]
    return sorted(rows, key=lambda row: str(row["id"]))


def _usable(row: dict[str, Any]) -> bool:
    """A question to answer, and something to reward the answer against: a reference answer or a rubric."""
    gradable = row.get("reference_answer") or row.get("rubric")
    return bool(row.get("id") and row.get("question") and row.get("task") and gradable)


def require_items(source: DataSource) -> list[dict[str, Any]]:
    items = load_items(source)
    if not items:
        total = sum(1 for row in read_jsonl(source.items_file) if _usable(row))
        run = source.items_file.parent
        hint = f" ({total} usable items in the run; pick another split, e.g. {run}/all)" if total else ""
        raise TrainingSetupError(f"no items in {source.label}{hint}")
    return items


def family_of_item(row: dict[str, Any], solvers: SolverLookup) -> TaskFamily:
    family = row.get("family")
    return TaskFamily(family) if family else solvers(row["task"]).family


def rubric_of_item(row: dict[str, Any]) -> list[dict[str, Any]]:
    rubric = row.get("rubric") or []
    return json.loads(rubric) if isinstance(rubric, str) else list(rubric)


def prompt_messages(
    row: dict[str, Any], prompts: PromptLibrary, reasoning: bool, solvers: SolverLookup
) -> list[dict[str, str]]:
    """The item as chat messages, rendered with its task's solver prompt (the one the generation run used)."""
    messages = prompts.messages(
        solvers(row["task"]).prompt, question=row["question"], context=row.get("context") or "", reasoning=reasoning
    )
    return [{"role": _ROLE_OF[m.type], "content": str(m.content)} for m in messages]


def prompt_row(row: dict[str, Any], prompts: PromptLibrary, reasoning: bool, solvers: SolverLookup) -> dict[str, Any]:
    """One training/eval row: the chat prompt plus the columns the reward functions read."""
    return {
        "prompt": prompt_messages(row, prompts, reasoning, solvers),
        "item_id": str(row["id"]),
        "task": row["task"],
        "family": family_of_item(row, solvers).value,
        "question": row["question"],
        "context": row.get("context") or "",
        "reference_answer": row.get("reference_answer") or "",
        # JSON text keeps the dataset schema stable when some rows have no rubric.
        "rubric": json.dumps(rubric_of_item(row), ensure_ascii=False),
    }


def to_dataset(items: list[dict[str, Any]], prompts: PromptLibrary, reasoning: bool, solvers: SolverLookup):
    from datasets import Dataset

    return Dataset.from_list([prompt_row(row, prompts, reasoning, solvers) for row in items])

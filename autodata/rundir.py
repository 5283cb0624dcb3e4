"""The run directory: everything needed to audit (and later resume) a run.

    config.json         resolved configuration, without secrets
    items.jsonl         accepted items, one row each, with provenance and scores
    trajectories.jsonl  every document's rounds (items, attempts, scores, feedback)
    errors.jsonl        documents that could not be used or failed, with the reason
    stats.json          counts, rejection reasons, model calls and tokens per role
    dataset/            the items as a Hugging Face `datasets` dataset (datasets.load_from_disk)
    checkpoints.sqlite  LangGraph checkpoints, one thread per (document, task, seed): what resume reads

Rows are appended one line at a time and fsynced; a crash can leave at most a torn last line, which
`repair()` cuts off before a resumed run appends again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ITEMS, TRAJECTORIES, ERRORS, STATS, CONFIG, DATASET, CHECKPOINTS = (
    "items.jsonl", "trajectories.jsonl", "errors.jsonl", "stats.json", "config.json", "dataset", "checkpoints.sqlite",
)  # fmt: skip

# Columns every dataset row has, so an empty run still produces a loadable, typed dataset.
ITEM_COLUMNS = (
    "id", "task", "family", "method", "context", "question", "reference_answer", "rubric",
    "source_doc_id", "source_path", "source_hash", "source_span", "models", "prompts_hash",
    "rounds", "weak_scores", "strong_scores", "weak_avg", "strong_avg", "gap",
)  # fmt: skip


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (crash mid-write) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


class RunDirectory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def _append(self, name: str, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False, default=str)
        with self.file(name).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def repair(self) -> None:
        """Drop a torn (unterminated) last line from each JSONL file, left by a crash mid-write."""
        for name in (ITEMS, TRAJECTORIES, ERRORS):
            path = self.file(name)
            if not path.exists() or path.stat().st_size == 0:
                continue
            data = path.read_bytes()
            if not data.endswith(b"\n"):
                with path.open("r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)

    def append_item(self, row: dict[str, Any]) -> None:
        self._append(ITEMS, row)

    def append_trajectory(self, row: dict[str, Any]) -> None:
        self._append(TRAJECTORIES, row)

    def append_error(self, row: dict[str, Any]) -> None:
        self._append(ERRORS, row)

    def items(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.file(ITEMS)))

    def trajectories(self) -> Iterator[dict[str, Any]]:
        return read_jsonl(self.file(TRAJECTORIES))

    def errors(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.file(ERRORS)))

    def write_config(self, config: dict[str, Any]) -> None:
        write_json_atomic(self.file(CONFIG), config)

    def write_stats(self, stats: dict[str, Any]) -> None:
        write_json_atomic(self.file(STATS), stats)

    def save_dataset(self) -> Path:
        """Write items.jsonl as a `datasets` dataset (rubric serialised as JSON text for a stable schema).

        Rows are streamed from items.jsonl into Arrow in batches (`Dataset.from_generator`), never all held in
        memory: building the dataset from a list cost ~20 KB of memory per item at the end of a run.
        """
        import shutil
        import tempfile

        from datasets import Dataset, Features, Sequence, Value, disable_progress_bars

        disable_progress_bars()

        features = Features(
            {
                "id": Value("string"), "task": Value("string"), "family": Value("string"),
                "method": Value("string"), "context": Value("string"), "question": Value("string"),
                "reference_answer": Value("string"), "rubric": Value("string"),
                "source_doc_id": Value("string"), "source_path": Value("string"),
                "source_hash": Value("string"), "source_span": Sequence(Value("int64")),
                "models": Value("string"), "prompts_hash": Value("string"), "rounds": Value("int64"),
                "weak_scores": Sequence(Value("float64")), "strong_scores": Sequence(Value("float64")),
                "weak_avg": Value("float64"), "strong_avg": Value("float64"), "gap": Value("float64"),
            }
        )  # fmt: skip
        target = self.file(DATASET)
        if next(_dataset_rows(str(self.file(ITEMS))), None) is None:
            empty = Dataset.from_dict({column: [] for column in ITEM_COLUMNS}, features=features)
            empty.save_to_disk(str(target), num_shards=1)  # an empty dataset needs its one (empty) shard
            return target
        # The builder's cache lives next to the run and goes when the dataset is saved: never in ~/.cache,
        # and never reused for a later export of a grown items.jsonl.
        cache = Path(tempfile.mkdtemp(prefix=".dataset-build-", dir=self.path))
        try:
            dataset = Dataset.from_generator(
                _dataset_rows, features=features, cache_dir=str(cache), gen_kwargs={"items": str(self.file(ITEMS))}
            )
            dataset.save_to_disk(str(target), num_shards=1)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        return target


def _dataset_rows(items: str) -> Iterator[dict[str, Any]]:
    """items.jsonl as dataset rows: each id once, nested fields as JSON text."""
    seen: set[str] = set()
    for item in read_jsonl(Path(items)):
        if item["id"] in seen:
            continue
        seen.add(item["id"])
        row = {column: item.get(column) for column in ITEM_COLUMNS}
        row["rubric"] = json.dumps(item.get("rubric") or [], ensure_ascii=False)
        row["models"] = json.dumps(item.get("models") or {}, ensure_ascii=False)
        yield row

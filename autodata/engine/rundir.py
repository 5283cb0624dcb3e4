"""The run directory: everything needed to audit (and later resume) a run.

    config.json         resolved configuration, without secrets
    items.jsonl         accepted items, one row each, with provenance and scores
    trajectories.jsonl  every document's rounds (items, attempts, scores, feedback)
    errors.jsonl        documents that could not be used or failed, with the reason
    annotations.json    the items' question types, once `autodata annotate` has run
    stats.json          counts, rejection reasons, model calls and tokens per role
    dataset/            the items as a Hugging Face `datasets` dataset (datasets.load_from_disk)
    checkpoints.sqlite  LangGraph checkpoints, one thread per (document, task, seed): what resume reads
    .autodata.lock      held (flock) by the one process writing the directory; holds that process's pid

Rows are appended one line at a time and fsynced; a crash can leave at most a torn last line, which
`repair()` cuts off before a resumed run appends again. `dataset/` is built beside the old one and renamed
into place, so a crash leaves the old or the new dataset; `repair()` also clears what a crash left behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ITEMS, TRAJECTORIES, ERRORS, STATS, CONFIG, DATASET, CHECKPOINTS = (
    "items.jsonl", "trajectories.jsonl", "errors.jsonl", "stats.json", "config.json", "dataset", "checkpoints.sqlite",
)  # fmt: skip
ANNOTATIONS = "annotations.json"
AGENTIC = "agentic-self-instruct"  # the method of a run whose files name none

# Columns every dataset row has, so an empty run still produces a loadable, typed dataset.
ITEM_COLUMNS = (
    "id", "task", "family", "method", "context", "question", "reference_answer", "rubric",
    "source_doc_id", "source_path", "source_hash", "source_span", "models", "prompts_hash",
    "rounds", "weak_scores", "strong_scores", "weak_avg", "strong_avg", "gap", "question_type", "reasoning_skills",
)  # fmt: skip
# A person's decisions on an item (state/review.py ReviewRecord), a typed list column of the dataset: empty when
# nobody reviewed it.
REVIEW_FIELDS = ("round", "decision", "reviewer", "at", "edited_fields", "reason", "needs_rescore")


@dataclass(frozen=True)
class ExtraColumn:
    """An item column a graph's rows add to the dataset (its `BatchSpec.dataset_columns`), null where absent."""

    name: str
    dtype: str = "string"  # a `datasets.Value` type
    sequence: bool = False  # a list of `dtype`
    as_json: bool = False  # nested: stored as JSON text, like rubric


LOCK = ".autodata.lock"
# Export scratch folders: the `datasets` builder cache, the dataset being built, the dataset being replaced.
BUILD_PREFIX, NEW_PREFIX, OLD_PREFIX = ".dataset-build-", ".dataset-new-", ".dataset-old-"


class RunDirectoryError(Exception):
    """The run directory cannot be used as asked (in use, made with other settings, inside the sources)."""


class RunDirectoryBusy(RunDirectoryError):
    """Another process holds the run directory's lock."""


class RunSettingsMismatch(RunDirectoryError):
    """Resuming would mix items made under different settings."""


class RunDataError(ValueError):
    """A finished run cannot be read (no such directory, not a run directory, a file that is not valid JSON)."""


def check_outside_inputs(out: Path, inputs: dict[str, Path]) -> None:
    """Refuse an output directory that is (or is inside) an input folder: the run would read its own output."""
    target = out.resolve()
    for label, source in inputs.items():
        folder = source.resolve()
        if target == folder or folder in target.parents:
            raise RunDirectoryError(
                f"--out {out} is inside {label} {source}: the run would read its own output as input; "
                "choose an --out outside it"
            )


# Locks this process holds: resolved lock path -> (file descriptor, nesting depth). A command holds its run
# directory's lock and the Generator it drives takes it again; flock would refuse a second descriptor.
_held_locks: dict[Path, tuple[int, int]] = {}
_held_locks_guard = threading.Lock()


@contextmanager
def hold_lock(directory: Path) -> Iterator[None]:
    """Exclusive, non-blocking lock on a run directory for as long as the block runs.

    The kernel releases an flock when its holder dies (even by kill -9), so a stale lock file never blocks a
    later run; the pid written into it only names the holder in the refusal message.
    """
    path = (directory / LOCK).resolve()
    _acquire(path, directory)
    try:
        yield
    finally:
        _release(path)


def _acquire(path: Path, directory: Path) -> None:
    with _held_locks_guard:
        if path in _held_locks:
            fd, depth = _held_locks[path]
            _held_locks[path] = (fd, depth + 1)
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_and_sign(fd, directory)
        except BaseException:
            os.close(fd)
            raise
        _held_locks[path] = (fd, 1)


def _lock_and_sign(fd: int, directory: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").partition("\n")[0].strip() or "unknown"
        raise RunDirectoryBusy(
            f"{directory} is in use by another autodata process (pid {holder}); wait for it to finish, "
            "or use another --out"
        ) from None
    signature = f"{os.getpid()}\n".encode("ascii")
    os.pwrite(fd, signature, 0)  # write, then cut: a refused process never reads an empty file
    os.ftruncate(fd, len(signature))


def _release(path: Path) -> None:
    with _held_locks_guard:
        fd, depth = _held_locks[path]
        if depth > 1:
            _held_locks[path] = (fd, depth - 1)
            return
        del _held_locks[path]
        os.close(fd)  # closing the descriptor releases the flock


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line and fsync it; a torn last line left by a crash is ended first, so the row always
    stands on a line of its own (only the file's last byte is read)."""
    line = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    with path.open("a+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                line = b"\n" + line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Replace `path` by `rows`: written and fsynced beside it, then renamed over it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
        fh.flush()
        os.fsync(fh.fileno())
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


def _json_row(line: bytes, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The line's row, when it is a JSON object with every one of `keys` set to a string."""
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(row, dict) or not all(isinstance(row.get(key), str) for key in keys):
        return None
    return row


class RunDirectory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"run directory {self.path} is a file, not a directory")
        self.path.mkdir(parents=True, exist_ok=True)

    def lock(self):
        """Hold the directory's lock (see `hold_lock`); raises RunDirectoryBusy when another process has it."""
        return hold_lock(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    def _append(self, name: str, row: dict[str, Any]) -> None:
        append_jsonl(self.file(name), row)

    def repair(self) -> None:
        """Undo what a crash left: a torn (unterminated) last line in each JSONL file, export scratch folders."""
        self.remove_export_leftovers()
        for name in (ITEMS, TRAJECTORIES, ERRORS):
            path = self.file(name)
            if not path.exists() or path.stat().st_size == 0:
                continue
            data = path.read_bytes()
            if not data.endswith(b"\n"):
                with path.open("r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)

    def check_rows(self) -> list[str]:
        """Remove from each JSONL file what this code never writes: a line that is not a JSON object with its
        keys (a garbage line, a hand edit), and a repeated row (same id). What is removed is kept in
        `<file>.removed`; returns one line per file changed, saying what was removed."""
        notes = []
        for name, keys in ((ITEMS, ("id",)), (TRAJECTORIES, ("id",)), (ERRORS, ("doc_id", "kind", "reason"))):
            note = self._keep_valid_rows(name, keys, unique=name != ERRORS)
            if note:
                notes.append(note)
        return notes

    def _keep_valid_rows(self, name: str, keys: tuple[str, ...], unique: bool) -> str | None:
        path = self.file(name)
        if not path.exists():
            return None
        seen: set[str] = set()
        garbage: list[int] = []
        repeated: dict[int, str] = {}
        with path.open("rb") as fh:  # first pass: which lines go (a healthy file is read once, never rewritten)
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                row = _json_row(line, keys)
                if row is None:
                    garbage.append(number)
                elif unique and row[keys[0]] in seen:
                    repeated[number] = row[keys[0]]
                else:
                    seen.add(row[keys[0]])
        if not garbage and not repeated:
            return None
        dropped = {*garbage, *repeated}
        tmp = path.with_suffix(path.suffix + ".tmp")
        with path.open("rb") as source, tmp.open("wb") as kept, self.file(name + ".removed").open("ab") as removed:
            for number, line in enumerate(source, start=1):
                if line.strip():
                    (removed if number in dropped else kept).write(line if line.endswith(b"\n") else line + b"\n")
            kept.flush()
            os.fsync(kept.fileno())
        os.replace(tmp, path)
        parts = [f"{len(garbage)} line(s) that are not rows (line {', '.join(map(str, garbage[:5]))})"] if garbage else []
        parts += [f"{len(repeated)} repeated row(s) (id {', '.join(list(repeated.values())[:3])})"] if repeated else []
        return f"{name}: removed {' and '.join(parts)}; they are kept in {name}.removed"

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

    def drop_errors(self, kind: str) -> None:
        """Remove the rows of one kind from errors.jsonl (rewritten beside it, then renamed over it)."""
        rows = self.errors()
        kept = [row for row in rows if row.get("kind") != kind]
        if len(kept) == len(rows):
            return
        write_jsonl_atomic(self.file(ERRORS), kept)

    def read_config(self) -> dict[str, Any] | None:
        path = self.file(CONFIG)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunDirectoryError(f"{path} is not valid JSON ({exc}); fix or remove it to resume") from None

    def write_config(self, config: dict[str, Any]) -> None:
        write_json_atomic(self.file(CONFIG), config)

    def write_stats(self, stats: dict[str, Any]) -> None:
        write_json_atomic(self.file(STATS), stats)

    def save_dataset(self, columns: tuple[ExtraColumn, ...] = ()) -> Path:
        """Write items.jsonl as a `datasets` dataset (rubric serialised as JSON text for a stable schema), with the
        run's graph's extra `columns` beside the common ones.

        The dataset is built in a scratch folder inside the run directory and then renamed over `dataset/`
        (old moved aside, new moved in, old removed), so a crash at any point leaves the old or the new
        dataset; `remove_export_leftovers` (run here and by `repair`) clears the rest on the next run.
        """
        self.remove_export_leftovers()
        staging = self.path / f"{NEW_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            self._build_dataset(staging, columns)
            self._swap_in(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone after the swap; still there only after an error
        return self.file(DATASET)

    def _build_dataset(self, target: Path, columns: tuple[ExtraColumn, ...]) -> None:
        """Rows are streamed from items.jsonl into Arrow in batches (`Dataset.from_generator`), never all held
        in memory: building the dataset from a list cost ~20 KB of memory per item at the end of a run.
        """
        from datasets import Dataset, Features, Sequence, Value, disable_progress_bars

        disable_progress_bars()

        review_features = {
            "round": Value("int64"), "decision": Value("string"), "reviewer": Value("string"), "at": Value("string"),
            "edited_fields": Sequence(Value("string")), "reason": Value("string"), "needs_rescore": Value("bool"),
        }  # fmt: skip
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
                "question_type": Value("string"), "reasoning_skills": Sequence(Value("string")),
                "reviews": [review_features],
            }
        )  # fmt: skip
        for column in columns:
            value = Value("string" if column.as_json else column.dtype)
            features[column.name] = Sequence(value) if column.sequence else value
        if next(read_jsonl(self.file(ITEMS)), None) is None:
            empty = Dataset.from_dict({column: [] for column in features}, features=features)
            empty.save_to_disk(str(target), num_shards=1)  # an empty dataset needs its one (empty) shard
            return
        # The builder's cache lives next to the run and goes when the dataset is saved: never in ~/.cache,
        # and never reused for a later export of a grown items.jsonl.
        cache = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX, dir=self.path))
        try:
            # A tuple: `from_generator` would split a list argument into one shard per element.
            rows = {"items": str(self.file(ITEMS)), "columns": tuple((c.name, c.as_json) for c in columns)}
            dataset = Dataset.from_generator(_dataset_rows, features=features, cache_dir=str(cache), gen_kwargs=rows)
            dataset.save_to_disk(str(target), num_shards=1)
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    def _swap_in(self, staging: Path) -> None:
        target = self.file(DATASET)
        if not target.exists():
            os.rename(staging, target)
            return
        trash = self.path / f"{OLD_PREFIX}{uuid.uuid4().hex[:12]}"
        os.rename(target, trash)
        os.rename(staging, target)
        shutil.rmtree(trash, ignore_errors=True)

    def remove_export_leftovers(self) -> None:
        """Clear what an export cut short left behind; if it stopped between its two renames (no `dataset/`,
        the old one set aside), the old dataset is put back first."""
        target = self.file(DATASET)
        set_aside = sorted(self.path.glob(f"{OLD_PREFIX}*"))
        if not target.exists() and set_aside:
            os.rename(set_aside[0], target)
        for prefix in (BUILD_PREFIX, NEW_PREFIX, OLD_PREFIX):
            for leftover in self.path.glob(f"{prefix}*"):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()


def _dataset_rows(items: str, columns: tuple[tuple[str, bool], ...]) -> Iterator[dict[str, Any]]:
    """items.jsonl as dataset rows: each id once, nested fields as JSON text; `columns`: the graph's extra
    (name, as JSON text) columns too."""
    seen: set[str] = set()
    for item in read_jsonl(Path(items)):
        if item["id"] in seen:
            continue
        seen.add(item["id"])
        row = {column: item.get(column) for column in ITEM_COLUMNS}
        row["rubric"] = json.dumps(item.get("rubric") or [], ensure_ascii=False)
        row["models"] = json.dumps(item.get("models") or {}, ensure_ascii=False)
        row["reviews"] = [{key: review.get(key) for key in REVIEW_FIELDS} for review in item.get("reviews") or []]
        for name, as_json in columns:
            value = item.get(name)
            row[name] = json.dumps(value, ensure_ascii=False) if as_json and value is not None else value
        yield row


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's object; empty when the file does not exist."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunDataError(f"{path} is not valid JSON: {exc}") from None


@dataclass
class RunData:
    """A run directory's files, read once, for reports, annotation and training."""

    path: Path
    items: list[dict[str, Any]]
    trajectories: list[dict[str, Any]]
    stats: dict[str, Any]
    config: dict[str, Any]
    annotations: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def method(self) -> str:
        for source in (*self.items[:1], self.stats, self.config):
            if source.get("method"):
                return str(source["method"])
        return AGENTIC

    @property
    def task(self) -> str:
        return str(self.stats.get("task") or self.config.get("task") or (self.items[0]["task"] if self.items else ""))

    @property
    def family(self) -> str:
        if self.items:
            return str(self.items[0].get("family", ""))
        return str((self.config.get("context") or {}).get("family") or "")


def load_run(path: str | Path) -> RunData:
    path = Path(path)
    if not path.is_dir():
        raise RunDataError(f"run directory not found: {path}")
    if not (path / ITEMS).exists() and not (path / TRAJECTORIES).exists():
        raise RunDataError(f"{path} is not a run directory (no {ITEMS} and no {TRAJECTORIES})")
    annotations = read_json(path / ANNOTATIONS) or None
    return RunData(
        path=path,
        items=list(read_jsonl(path / ITEMS)),
        trajectories=list(read_jsonl(path / TRAJECTORIES)),
        stats=read_json(path / STATS),
        config=read_json(path / CONFIG),
        annotations=annotations,
    )

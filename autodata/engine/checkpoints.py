"""The run directory's SQLite checkpointer, called on the event loop's own thread.

LangGraph's `AsyncSqliteSaver` runs every statement on aiosqlite's worker thread. Each checkpoint write
is then two thread hand-offs, and the worker needs the GIL back after every statement while the event
loop thread, busy running the graph, holds it: under load a write waited for the interpreter's switch
interval and the two threads traded the GIL thousands of times a second (futex calls outnumbered SQLite's
own writes 3 to 1 under `strace`; benchmarks/throughput.py). A checkpoint row here is a few KB written
to a WAL database with `synchronous=NORMAL`: tens of microseconds, less than the hand-off itself. So
this saver runs LangGraph's synchronous `SqliteSaver` statements directly inside its async methods.

The price is that the loop does not run while SQLite writes; SQLite's occasional WAL checkpoint (every
~1000 pages) costs a few milliseconds. Resume semantics are LangGraph's: same tables, same rows.

Every checkpoint database (generate, baseline, optimize) revives only the record types of `autodata.state`:
`checkpoint_serializer` is the one allow-list.
"""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

import autodata.state
from autodata.engine.document_store import DocumentRefSerializer, DocumentStore


# State modules that were renamed when state/ got one module per pipeline: checkpoints written before name their
# records by the old module, so the old names stay importable (as the new modules) and allowed.
RENAMED_STATE_MODULES = {
    "autodata.state.self_instruct_state": "autodata.state.self_instruct",
    "autodata.state.legal_state": "autodata.state.legal",
    "autodata.state.science_state": "autodata.state.science",
    "autodata.state.baseline_state": "autodata.state.baselines",
    "autodata.state.meta_state": "autodata.state.meta",
}


def _alias_renamed_state_modules() -> None:
    for old, new in RENAMED_STATE_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


@lru_cache(maxsize=1)
def state_record_types() -> tuple[tuple[str, str], ...]:
    """(module, name) of every pydantic model and Enum defined in an `autodata.state` module, also under the
    module's former name if it was renamed.

    Found by walking the package, so a new state module is covered without being listed here.
    """
    _alias_renamed_state_modules()
    former_names = {new: old for old, new in RENAMED_STATE_MODULES.items()}
    found = []
    for info in pkgutil.walk_packages(autodata.state.__path__, prefix=f"{autodata.state.__name__}."):
        module = importlib.import_module(info.name)
        names = [
            name
            for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, (BaseModel, Enum)) and obj.__module__ == module.__name__
        ]
        for module_name in (module.__name__, former_names.get(module.__name__)):
            if module_name:
                found.extend((module_name, name) for name in names)
    return tuple(sorted(found))


def checkpoint_serializer() -> JsonPlusSerializer:
    """Checkpoints hold our state records: exactly those types (and LangGraph's safe built-ins) are revived."""
    return JsonPlusSerializer(allowed_msgpack_modules=list(state_record_types()))


class InlineSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose async methods run the statements in the calling (event loop) thread."""

    keep_history = True  # False: a thread keeps only its latest checkpoint (and that one's pending writes)

    @classmethod
    @contextmanager
    def open(
        cls, path: str | Path, serde: SerializerProtocol | None = None, *, documents: Path | None = None,
        keep_history: bool = True,
    ) -> Iterator[InlineSqliteSaver]:  # fmt: skip
        """A saver on the database at `path` (created if missing), closed on exit; `checkpoint_serializer()`
        unless another `serde` is given.

        WAL (set up by `SqliteSaver`) with `synchronous=NORMAL`: a commit reaches the OS without an fsync.
        That survives a crash or `kill -9` of this process (what resume is for) at a fraction of the cost.

        The batch engine's checkpoints do not grow with document size x steps: with `documents`
        (a folder), document texts are stored there once (`autodata.engine.document_store`) and checkpoints refer to
        them; without `keep_history` a thread's older checkpoints are deleted as each new one is saved (resume
        needs only the latest, with its pending writes; the state's growing lists are not stored again and
        again).
        """
        serde = serde or checkpoint_serializer()
        if documents is not None:
            serde = DocumentRefSerializer(serde, DocumentStore(documents))
        with closing(sqlite3.connect(str(path), check_same_thread=False)) as conn:
            saver = cls(conn, serde=serde)
            saver.keep_history = keep_history
            saver.setup()
            conn.execute("PRAGMA synchronous=NORMAL")
            yield saver

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        saved = super().put(config, checkpoint, metadata, new_versions)
        if not self.keep_history:
            self._delete_older_than(saved)
        return saved

    def _delete_older_than(self, saved: RunnableConfig) -> None:
        """Drop the thread's other checkpoints and their writes (a crash in between leaves both: still fine)."""
        ids = saved["configurable"]
        key = (str(ids["thread_id"]), ids.get("checkpoint_ns", ""), ids["checkpoint_id"])
        with self.cursor() as cur:
            for table in ("checkpoints", "writes"):
                where = "thread_id = ? AND checkpoint_ns = ? AND checkpoint_id != ?"
                cur.execute(f"DELETE FROM {table} WHERE {where}", key)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Mapping[str, Any]:
        return self.get_delta_channel_history(config=config, channels=channels)

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
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
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
from langgraph.checkpoint.sqlite import SqliteSaver


class InlineSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose async methods run the statements in the calling (event loop) thread."""

    @classmethod
    @contextmanager
    def open(cls, path: str | Path, serde: SerializerProtocol | None = None) -> Iterator[InlineSqliteSaver]:
        """A saver on the database at `path` (created if missing), closed on exit.

        WAL (set up by `SqliteSaver`) with `synchronous=NORMAL`: a commit reaches the OS without an fsync.
        That survives a crash or `kill -9` of this process (what resume is for) at a fraction of the cost.
        """
        with closing(sqlite3.connect(str(path), check_same_thread=False)) as conn:
            saver = cls(conn, serde=serde)
            saver.setup()
            conn.execute("PRAGMA synchronous=NORMAL")
            yield saver

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

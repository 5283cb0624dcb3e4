"""The run directory's checkpointer: LangGraph's SQLite tables, written from the event loop's own thread."""

import ast
import sqlite3
import threading
from pathlib import Path
from typing import Annotated

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from typing_extensions import TypedDict

import autodata.state
from autodata.engine.checkpoints import InlineSqliteSaver, checkpoint_serializer, state_record_types
from autodata.state.baselines import ConsistencyCheck
from autodata.state.context import RunContext
from autodata.state.meta import Evaluation
from autodata.state.schemas import RoundOutcome


class Counter(TypedDict):
    steps: Annotated[list[str], lambda left, right: left + right]


def build(fail_on: set[str]):
    def step(name: str):
        async def node(state: Counter) -> dict:
            if name in fail_on:
                raise RuntimeError(f"crash in {name}")
            return {"steps": [name]}

        return node

    builder = StateGraph(Counter)
    for name in ("a", "b", "c"):
        builder.add_node(name, step(name))
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder


async def test_a_crashed_thread_resumes_from_its_last_checkpoint_in_a_new_saver(tmp_path):
    path = tmp_path / "checkpoints.sqlite"
    config = {"configurable": {"thread_id": "doc-1"}}
    with InlineSqliteSaver.open(path) as saver:
        graph = build(fail_on={"c"}).compile(checkpointer=saver)
        with pytest.raises(RuntimeError, match="crash in c"):
            await graph.ainvoke({"steps": []}, config, durability="sync")
    with InlineSqliteSaver.open(path) as saver:  # a new process would open the file again
        graph = build(fail_on=set()).compile(checkpointer=saver)
        snapshot = await graph.aget_state(config)
        assert snapshot.values["steps"] == ["a", "b"] and snapshot.next == ("c",)
        final = await graph.ainvoke(None, config, durability="sync")
        assert final["steps"] == ["a", "b", "c"]
        history = [item async for item in saver.alist(config)]
        assert len(history) >= 4  # input, a, b, c
        await saver.adelete_thread("doc-1")
        assert (await graph.aget_state(config)).values == {}


async def test_statements_run_on_the_calling_thread_in_wal_mode_without_fsync_per_commit(tmp_path, monkeypatch):
    threads = set()
    original_put = InlineSqliteSaver.put

    def recording_put(self, *args, **kwargs):
        threads.add(threading.get_ident())
        return original_put(self, *args, **kwargs)

    monkeypatch.setattr(InlineSqliteSaver, "put", recording_put)
    with InlineSqliteSaver.open(tmp_path / "checkpoints.sqlite") as saver:
        await build(fail_on=set()).compile(checkpointer=saver).ainvoke({"steps": []}, {"configurable": {"thread_id": "t"}})
        assert threads == {threading.get_ident()}
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    rows = sqlite3.connect(tmp_path / "checkpoints.sqlite").execute("select count(*) from checkpoints").fetchone()[0]
    assert rows >= 4


class NotAStateRecord(BaseModel):
    value: int = 1


def test_checkpoints_revive_the_records_of_every_state_module_and_nothing_else():
    serde = checkpoint_serializer()
    records = [
        Evaluation(version="v0001", iteration=1, split="validation", documents=2, accepted=1, run_dir="evals/x"),
        ConsistencyCheck(samples=4, majority_answer="1/2", majority_votes=3, agrees=True),
        RunContext(task="cs-research"),
        RoundOutcome.TOO_EASY,
    ]
    for record in records:
        revived = serde.loads_typed(serde.dumps_typed(record))
        assert type(revived) is type(record) and revived == record
    assert not isinstance(serde.loads_typed(serde.dumps_typed(NotAStateRecord())), NotAStateRecord)


def test_the_allow_list_is_found_by_walking_the_state_package():
    """A state module added later is covered without being listed anywhere."""
    folder = Path(autodata.state.__file__).parent
    with_classes = {
        f"autodata.state.{path.stem}" for path in folder.glob("*.py")
        if any(isinstance(node, ast.ClassDef) for node in ast.parse(path.read_text()).body)
    }  # fmt: skip
    assert with_classes and with_classes <= {module for module, _ in state_record_types()}


def test_checkpoints_written_before_the_state_modules_were_renamed_still_revive(monkeypatch):
    # A record as an older version wrote it: its class then lived in autodata.state.baseline_state.
    monkeypatch.setattr(ConsistencyCheck, "__module__", "autodata.state.baseline_state")
    written = checkpoint_serializer().dumps_typed(ConsistencyCheck(samples=2, majority_answer="4", majority_votes=2, agrees=True))
    monkeypatch.undo()

    revived = checkpoint_serializer().loads_typed(written)

    assert isinstance(revived, ConsistencyCheck) and revived.majority_answer == "4"

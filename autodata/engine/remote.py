"""Run documents on a LangGraph API server instead of in this process (`autodata generate --server URL`).

Each document becomes one run on its own thread of the served `self_instruct` graph, submitted with the
official `langgraph_sdk` client. The thread id is a UUID derived from the item id and the run's context, so
submitting the same document with the same settings again (a re-run after a crash of this client) finds the
same thread: a finished thread's final state is returned without new model calls, a run still going on the
server is joined, and a thread whose run was cut off continues from its last checkpoint. Checkpoints live on
the server (Postgres in a LangGraph Server deployment); the models are those configured in the server's environment (`AUTODATA_*`).

With `review` in the run's context (`generate --review --server URL`) a thread that pauses for a person is
left waiting on the server and its pause is listed in the run directory like an in-process one; once
`autodata review` has recorded a decision on that pause, the next `generate` resumes the server's thread with
it (`Command(resume=...)` through the SDK): the same review log, the same once-only rule.

A document's result is the thread's state once its run has ended with success, never what a wait happened
to return: a run whose replica died is joined again until the server has finished it elsewhere. A run that
ended in error, a 5xx and an unreachable server raise, so the document is listed as failed and a re-run
resumes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from typing import Any

import httpx
from langgraph.types import Interrupt

from autodata.engine.batch import GraphInvoker
from autodata.engine.records import item_id
from autodata.engine.reviews import ReviewLog
from autodata.state.context import RunContext
from autodata.state.schemas import SourceDocument

DEFAULT_ASSISTANT = "self_instruct"
# Fixed namespace: thread ids must be the same on every machine and every run.
THREAD_NAMESPACE = uuid.UUID("6f1c2d0e-9a4b-5c7d-8e2f-3a1b4c5d6e7f")
_ACTIVE = ("pending", "running")
_CONTINUATIONS = 3  # runs one document may take: the first, and continuations of a thread left with pending work
_REJOIN_PAUSE_S = 1.0
_DROPS = 100  # joins of one run that may end early (a dropped connection, a stream that ended) before giving up


class RemoteRunError(RuntimeError):
    """A run on the server ended without finishing its document (error, timeout, interrupt)."""


def thread_id_for(key: str, ctx: RunContext | None = None) -> str:
    """The server thread of one item: uuid5 of its item id and of the run's context (LangGraph servers want
    UUID thread ids). With the context in it, the same corpus run again with other settings (another run
    directory, another policy or round budget) gets threads of its own instead of the earlier run's results."""
    if ctx is not None:
        context = json.dumps(ctx.model_dump(mode="json"), sort_keys=True)
        key = f"{key}|{hashlib.sha256(context.encode()).hexdigest()[:16]}"
    return str(uuid.uuid5(THREAD_NAMESPACE, key))


def _item_key(doc: SourceDocument, ctx: RunContext, config: dict[str, Any]) -> str:
    # The Generator passes its item id as the thread id; without one, the id for seed 0.
    return config.get("configurable", {}).get("thread_id") or item_id(ctx.task, doc, 0)


def _run_options(ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"context": ctx.model_dump(mode="json")}
    if "recursion_limit" in config:
        options["config"] = {"recursion_limit": config["recursion_limit"]}
    if config.get("metadata"):
        options["metadata"] = _server_metadata(config["metadata"])
    return options


def _server_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Task, document id and the run's label, filterable in traces; the server keeps `run_id` for its own run id,
    so the label travels as `autodata_run_id`."""
    renamed = {("autodata_run_id" if key == "run_id" else key): value for key, value in metadata.items()}
    return renamed


class RemoteGraph:
    """Submits runs of one assistant (graph) to a LangGraph API server; callable as a `GraphInvoker`."""

    def __init__(
        self, url: str, assistant_id: str = DEFAULT_ASSISTANT, client: Any = None, reviews: ReviewLog | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.assistant_id = assistant_id
        self._client = client
        self._unreachable: str | None = None
        self.reviews = reviews  # the run directory's review log: the decisions to resume paused threads with

    @property
    def client(self) -> Any:
        # Created on first use, inside the event loop that will use it. Only LANGGRAPH_API_KEY is sent: the
        # SDK would otherwise send LANGSMITH_API_KEY (meant for tracing) to whatever server URL is given.
        if self._client is None:
            from langgraph_sdk import get_client

            self._client = get_client(url=self.url, api_key=os.environ.get("LANGGRAPH_API_KEY") or None)
        return self._client

    async def __call__(self, doc: SourceDocument, ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
        if self._unreachable is not None and not await self._answers():
            raise RemoteRunError(f"{self.url} is unreachable ({self._unreachable}); re-run to resume")
        self._unreachable = None
        try:
            return await self._run(doc, ctx, config)
        except httpx.ConnectError as exc:
            # The transport retried for several seconds: the server is down. Until it answers again, the next
            # documents fail after one quick look (each listed in errors.jsonl) instead of each waiting out the
            # same retries.
            self._unreachable = f"{type(exc).__name__}: {exc}"
            raise

    async def _answers(self) -> bool:
        """One look, without retries, whether the server answers again."""
        try:
            async with httpx.AsyncClient(timeout=2) as probe:
                return (await probe.get(f"{self.url}/ok")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _run(self, doc: SourceDocument, ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
        item_key = _item_key(doc, ctx, config)
        thread_id = thread_id_for(item_key, ctx)
        await self.client.threads.create(
            thread_id=thread_id, if_exists="do_nothing", metadata=_server_metadata(config.get("metadata") or {})
        )
        for _ in range(_CONTINUATIONS):
            run_id = await self._active_run(thread_id)
            if run_id is None:
                state = await self.client.threads.get_state(thread_id)
                # Pending tasks, not only `next`: a task whose writes were saved before the cut is not in `next`.
                pending = bool(state.get("next") or state.get("tasks"))
                run_input: dict[str, Any]
                if pauses := _pauses(state):
                    decision = self._decision(item_key, thread_id, pauses[0])
                    if decision is None:  # waits for a person: listed by the batch, resumed by a later run
                        return {**state.get("values", {}), "__interrupt__": pauses}
                    run_input = {"command": {"resume": decision}}
                elif state.get("values") and not pending:
                    self._note_finished(item_key)
                    return state["values"]  # finished: no new model calls
                else:
                    # A thread cut off mid-run continues from its checkpoint (input None); a new one starts.
                    run_input = {"input": None if pending else {"document": doc.model_dump(mode="json")}}
                run = await self.client.runs.create(
                    thread_id, self.assistant_id, **run_input, **_run_options(ctx, config)
                )
                run_id = run["run_id"]
            await self._wait(thread_id, run_id)
        raise RemoteRunError(f"thread {thread_id} on {self.url} still has pending work after {_CONTINUATIONS} runs")

    def _decision(self, item_key: str, thread_id: str, pause: Interrupt) -> dict[str, Any] | None:
        """The recorded decision on the pause the server's thread waits at (marked applied before the thread is
        resumed with it), or None while nobody has decided."""
        if self.reviews is None:
            raise RemoteRunError(f"thread {thread_id} on {self.url} waits for a review; run with --review to list it")
        self.reviews.note_stale_decisions(item_key, pause.id)
        decision = self.reviews.decision_for(item_key, pause.id)
        if decision is not None:
            self.reviews.note_applied(item_key, pause.id)
        return decision

    def _note_finished(self, item_key: str) -> None:
        if self.reviews is not None:
            self.reviews.note_stale_decisions(item_key, None)

    async def _wait(self, thread_id: str, run_id: str) -> None:
        """Until the run has ended; raises RemoteRunError when it ended in error. A replica that dies or a
        stream that ends early can answer `join` while the run is still queued or running (it is swept back to
        the queue and continues elsewhere): then join again, so no half-finished state is taken as the result."""
        for _ in range(_DROPS):
            try:
                result = await self.client.runs.join(thread_id, run_id)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                result = None  # the replica went away mid-answer: ask again (another one, or the restarted one)
            if isinstance(result, dict) and isinstance(result.get("__error__"), dict):
                error = result["__error__"]
                raise RemoteRunError(f"run {run_id} failed on {self.url}: {error.get('error')}: {error.get('message')}")
            status = (await self.client.runs.get(thread_id, run_id))["status"]
            if status == "success":
                return
            if status not in _ACTIVE:
                raise RemoteRunError(f"run {run_id} on {self.url} ended with status {status!r}")
            await asyncio.sleep(_REJOIN_PAUSE_S)
        raise RemoteRunError(f"run {run_id} on {self.url}: the answer was cut off {_DROPS} times")

    async def _active_run(self, thread_id: str) -> str | None:
        runs = await self.client.runs.list(thread_id, limit=10)
        return next((run["run_id"] for run in runs if run.get("status") in _ACTIVE), None)


def _pauses(state: dict[str, Any]) -> list[Interrupt]:
    """The interrupts a server thread waits at (the API lists them on the state and on its tasks)."""
    tasks = state.get("tasks") or []
    raw = state.get("interrupts") or [pause for task in tasks for pause in task.get("interrupts") or []]
    return [
        Interrupt(value=pause.get("value"), id=str(pause.get("id") or "")) for pause in raw if isinstance(pause, dict)
    ]


def remote_invoker(url: str, assistant_id: str = DEFAULT_ASSISTANT, reviews: ReviewLog | None = None) -> GraphInvoker:
    """A `GraphInvoker` that runs each document on the LangGraph API server at `url` (`reviews`: the run
    directory's review log, for runs with `review` on)."""
    return RemoteGraph(url, assistant_id, reviews=reviews)

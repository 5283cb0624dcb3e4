"""Runs the self_instruct graph over a stream of documents and writes the run directory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from autodata.batch_gc import batch_garbage_collection
from autodata.corpus import DocumentError
from autodata.dedup import NearDuplicateIndex
from autodata.graphs.self_instruct import build_self_instruct, recursion_limit
from autodata.models import ModelCallFailed, ModelProvider
from autodata.prompt_library import PromptLibrary, prompt_names
from autodata.rundir import CHECKPOINTS, RunDirectory, RunSettingsMismatch
from autodata.settings import ConfigError
from autodata.sqlite_saver import InlineSqliteSaver
from autodata.state.context import RunContext
from autodata.state.schemas import ROLES, RoleUsage, RoundOutcome, SourceDocument
from autodata.state.self_instruct_state import SelfInstructState, merge_usage
from autodata.tasks import task_spec


def item_id(task: str, doc: SourceDocument, seed: int) -> str:
    """Deterministic: the same document, span, task and seed always give the same id."""
    key = f"{task}|{doc.doc_id}|{doc.content_hash}|{doc.span[0]}-{doc.span[1]}|{seed}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass
class RunStats:
    task: str
    documents: int = 0
    accepted: int = 0
    exhausted: int = 0
    failed: int = 0
    bad_input: int = 0
    rounds: int = 0
    rounds_per_accepted: list[int] = field(default_factory=list)
    rejections: Counter = field(default_factory=Counter)
    usage: dict[str, RoleUsage] = field(default_factory=dict)
    near_duplicates: int = 0
    resumed: int = 0
    wall_seconds: float = 0.0

    def absorb(self, trajectory: dict[str, Any]) -> None:
        """Count one finished document from its trajectory row (this run's, or an earlier run's on resume)."""
        self.documents += 1
        rounds = trajectory.get("rounds", [])
        self.rounds += len(rounds)
        for record in rounds:
            if record["outcome"] != RoundOutcome.ACCEPTED.value:
                self.rejections[record["outcome"]] += 1
        status = trajectory.get("status")
        if status == "accepted":
            self.accepted += 1
            self.rounds_per_accepted.append(len(rounds))
        elif status == "duplicate":
            self.near_duplicates += 1
        else:
            self.exhausted += 1
        self.usage = merge_usage(self.usage, trajectory.get("usage", {}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "documents": self.documents,
            "accepted": self.accepted,
            "exhausted": self.exhausted,
            "failed": self.failed,
            "bad_input": self.bad_input,
            "rounds": self.rounds,
            "rounds_per_accepted": self.rounds_per_accepted,
            "rejection_reasons": dict(self.rejections),
            "near_duplicates": self.near_duplicates,
            "resumed": self.resumed,
            "usage": {role: self.usage.get(role, RoleUsage()).model_dump() for role in ROLES},
            "wall_seconds": round(self.wall_seconds, 2),
        }


@dataclass
class GenerateOptions:
    task: str
    samples: int = 4
    max_rounds: int = 3
    seed: int = 0
    concurrency: int = 1
    prompts_dir: str | None = None
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    allow_mixed: bool = False  # resume a run directory whose items were made with other settings

    def context(self) -> RunContext:
        ctx = RunContext(
            task=self.task, samples=self.samples, max_rounds=self.max_rounds,
            prompts_dir=self.prompts_dir, run_id=self.run_id,
        )  # fmt: skip
        return ctx.model_copy(update={"policy": ctx.policy.model_copy(update=self.policy_overrides)})


def _item_row(
    state: SelfInstructState, doc: SourceDocument, ctx: RunContext, models: dict[str, str], prompts_hash: str, seed: int
) -> dict[str, Any]:
    item = state.accepted_item
    final = state.rounds[-1]
    weak = [s.score for s in final.scores if s.role == "weak" and s.score is not None]
    strong = [s.score for s in final.scores if s.role == "strong" and s.score is not None]
    return {
        "id": item_id(ctx.task, doc, seed),
        "task": ctx.task,
        "family": task_spec(ctx.task).family.value,
        "method": "agentic-self-instruct",
        "context": item.context,
        "question": item.question,
        "reference_answer": item.reference_answer,
        "rubric": [c.model_dump() for c in item.rubric],
        "source_doc_id": doc.doc_id,
        "source_path": doc.path,
        "source_hash": doc.content_hash,
        "source_span": list(doc.span),
        "models": models,
        "prompts_hash": prompts_hash,
        "rounds": len(state.rounds),
        "weak_scores": weak,
        "strong_scores": strong,
        "weak_avg": final.weak_avg,
        "strong_avg": final.strong_avg,
        "gap": (final.strong_avg or 0.0) - (final.weak_avg or 0.0),
    }


# Runs the self_instruct graph for one document and returns the final state's values. The default runs the
# graph in-process; `autodata generate --server URL` swaps in one that submits the run to a LangGraph server.
GraphInvoker = Callable[[SourceDocument, RunContext, dict[str, Any]], Awaitable[dict[str, Any]]]


class Generator:
    """One `autodata generate` job: documents in, run directory out, resumable.

    Each document runs on its own checkpointed thread (SQLite in the run directory) whose id is the
    deterministic item id. Re-running the same command skips documents whose trajectory is written,
    continues interrupted ones from their last checkpoint, and writes each item row at most once.
    """

    def __init__(
        self,
        options: GenerateOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
        invoke: GraphInvoker | None = None,
        checkpoint: bool = True,
    ) -> None:
        self.options = options
        self.provider = provider
        self.run_dir = run_dir
        self.ctx = options.context()
        self.stats = RunStats(task=options.task)
        self.graph = build_self_instruct().compile(name="self_instruct")
        family = task_spec(options.task).family.value
        self.prompts_hash = PromptLibrary(options.prompts_dir).fingerprint(prompt_names(options.task, family))
        self.models = {role: provider.model_name(role) for role in ROLES}
        self.on_document_done = on_document_done or (lambda doc_id, outcome: None)
        self.invoke = invoke or self._invoke_in_process
        self.checkpoint = checkpoint and invoke is None
        self.duplicates = NearDuplicateIndex()
        self._finished: dict[str, dict[str, Any]] = {}
        self._item_ids: set[str] = set()
        self._error_keys: set[tuple[str, str, str]] = set()
        self._write_lock = asyncio.Lock()

    def thread_id(self, doc: SourceDocument) -> str:
        return item_id(self.ctx.task, doc, self.options.seed)

    async def _invoke_in_process(self, doc: SourceDocument, ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
        if self.graph.checkpointer is not None:
            snapshot = await self.graph.aget_state(config)
            if snapshot.values:
                # `tasks` (not `next`) tells a finished thread from an interrupted one: a task whose writes
                # were saved before the interruption is no longer in `next` but still has to be applied.
                if not snapshot.tasks:
                    return snapshot.values  # finished before a crash, but its rows were never written
                # Continue from the checkpoint.
                return await self.graph.ainvoke(None, config=config, context=ctx, durability="sync")
            # "sync": each step's checkpoint is on disk before the next step starts, so a kill loses at most
            # the step in flight (model calls dominate; the SQLite write costs milliseconds).
            return await self.graph.ainvoke({"document": doc}, config=config, context=ctx, durability="sync")
        return await self.graph.ainvoke({"document": doc}, config=config, context=ctx)

    def config_record(self) -> dict[str, Any]:
        return {
            "task": self.options.task,
            "context": self.ctx.model_dump(),
            "seed": self.options.seed,
            "concurrency": self.options.concurrency,
            "prompts_hash": self.prompts_hash,
            "settings": self.provider.settings.public_dict(),
        }

    def _load_previous_run(self) -> None:
        """What an interrupted earlier run of this command already wrote (torn last lines are dropped)."""
        self.run_dir.repair()
        self._finished = {row["id"]: self.finished_summary(row) for row in self.run_dir.trajectories()}
        for item in self.run_dir.items():
            self._item_ids.add(item["id"])
            self.duplicates.add(item["id"], item["question"])
        # A document that failed (the endpoint, not its content) is tried again now: it is listed again only if
        # it fails again, so errors.jsonl and `stats.failed` describe this run.
        self.run_dir.drop_errors("failed")
        self._error_keys = {(e["doc_id"], e["kind"], e["reason"]) for e in self.run_dir.errors()}

    def _append_error_once(self, row: dict[str, Any]) -> None:
        key = (row["doc_id"], row["kind"], row["reason"])
        if key not in self._error_keys:
            self._error_keys.add(key)
            self.run_dir.append_error(row)

    def record_bad_input(self, error: DocumentError) -> None:
        self.stats.bad_input += 1
        self._append_error_once({"doc_id": error.doc_id, "path": error.path, "kind": "bad_input", "reason": error.reason})
        self.on_document_done(error.doc_id, "bad input")

    def record_failure(self, doc: SourceDocument, exc: BaseException) -> str:
        """A document whose run stopped on an error: listed in errors.jsonl, no trajectory row, so the next run
        continues it from its last checkpoint. A failed model call's requests still count in the usage."""
        self.stats.failed += 1
        if isinstance(exc, ModelCallFailed):
            self.stats.usage = merge_usage(self.stats.usage, {exc.role: exc.usage})
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        self._append_error_once({"doc_id": doc.doc_id, "path": doc.path, "kind": "failed", "reason": reason})
        self.on_document_done(doc.doc_id, "failed")
        return "failed"

    def graph_config(self, doc: SourceDocument) -> dict[str, Any]:
        return {
            "recursion_limit": recursion_limit(self.ctx.max_rounds),
            "run_name": f"self_instruct:{doc.doc_id}",
            "metadata": {"task": self.ctx.task, "document_id": doc.doc_id, "run_id": self.ctx.run_id},
            # Also the LangGraph server's thread id under `--server` (see autodata/remote.py).
            "configurable": {"thread_id": self.thread_id(doc)},
        }

    # Hooks a runner of another graph (the baselines) overrides: its state type, which status keeps an item,
    # and the rows it writes.
    state_type: type[BaseModel] = SelfInstructState
    kept_status = "accepted"
    summary_keys: tuple[str, ...] = ("status", "usage")

    def finished_summary(self, trajectory: dict[str, Any]) -> dict[str, Any]:
        """What a finished document's trajectory row gives `RunStats` when a re-run skips the document.

        Kept in memory per finished document instead of the whole row (solver answers, judge verdicts: tens
        of KB), so memory stays flat as the corpus grows.
        """
        summary = {key: trajectory[key] for key in self.summary_keys if key in trajectory}
        summary["rounds"] = [{"outcome": record["outcome"]} for record in trajectory.get("rounds", [])]
        return summary

    def item_row(self, state: Any, doc: SourceDocument) -> dict[str, Any]:
        return _item_row(state, doc, self.ctx, self.models, self.prompts_hash, self.options.seed)

    def trajectory_row(
        self, row_id: str, state: Any, doc: SourceDocument, status: str, duplicate_of: str | None, seconds: float
    ) -> dict[str, Any]:
        return {
            "id": row_id,
            "task": self.ctx.task,
            "doc_id": doc.doc_id,
            "source_path": doc.path,
            "source_hash": doc.content_hash,
            "status": status,
            "duplicate_of": duplicate_of,
            "seconds": round(seconds, 2),
            "usage": {role: usage.model_dump() for role, usage in state.usage.items()},
            "rounds": [record.model_dump(mode="json") for record in state.rounds],
        }

    def progress_outcome(self, state: Any, status: str) -> str:
        """What the progress bar shows for a finished document."""
        return status

    async def run_document(self, doc: SourceDocument) -> str:
        started = time.monotonic()
        try:
            raw = await self.invoke(doc, self.ctx, self.graph_config(doc))
        except ConfigError:
            raise  # the configuration is wrong (the endpoint breaker tripped): the whole batch stops
        except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the batch
            return self.record_failure(doc, exc)
        state = self.state_type.model_validate(raw)
        row_id = self.thread_id(doc)
        async with self._write_lock:  # the duplicate check and the writes happen as one step
            status, duplicate_of = state.status, None
            if status == self.kept_status and row_id not in self._item_ids:  # written before a crash: keep as is
                duplicate_of = self.duplicates.duplicate_of(state.accepted_item.question)
                if duplicate_of is None:
                    row = self.item_row(state, doc)
                    self.run_dir.append_item(row)
                    self._item_ids.add(row_id)
                    self.duplicates.add(row_id, row["question"])
                else:
                    status = "duplicate"
            trajectory = self.trajectory_row(row_id, state, doc, status, duplicate_of, time.monotonic() - started)
            self.run_dir.append_trajectory(trajectory)
            self._finished[row_id] = self.finished_summary(trajectory)
            self.stats.absorb(trajectory)
        outcome = self.progress_outcome(state, status)
        self.on_document_done(doc.doc_id, outcome)
        return outcome

    def skip_finished(self, doc: SourceDocument) -> bool:
        """Count a document an earlier run finished; True when it needs no work now."""
        previous = self._finished.get(self.thread_id(doc))
        if previous is None:
            return False
        self.stats.absorb(previous)
        self.stats.resumed += 1
        self.on_document_done(doc.doc_id, f"{previous.get('status')} (earlier run)")
        return True

    async def run(self, documents: Iterable[SourceDocument | DocumentError], limit: int | None = None) -> RunStats:
        """Run (or resume) the job; the run directory's lock is held throughout (RunDirectoryBusy if taken)."""
        started = time.monotonic()
        with self.run_dir.lock():
            config = self.resume_config()  # before anything is touched: a refused resume changes nothing
            self._load_previous_run()
            self.run_dir.write_config(config)
            try:
                with batch_garbage_collection():
                    await self._run_with_checkpoints(documents, limit)
            except Exception:
                # The batch stopped early: keep what finished in stats.json and the dataset if the disk lets us;
                # the error that stopped it is what the caller sees.
                with contextlib.suppress(Exception):
                    self._write_outputs(started)
                raise
            self._write_outputs(started)
        return self.stats

    def _write_outputs(self, started: float) -> None:
        self.stats.wall_seconds = time.monotonic() - started
        self.run_dir.write_stats(self.stats.as_dict())
        self.run_dir.save_dataset()

    def resume_config(self) -> dict[str, Any]:
        """This run's config.json: refused (RunSettingsMismatch) when the directory holds items made under
        other data-shaping settings, unless `allow_mixed`; then the earlier configurations go to `history`."""
        record = self.config_record()
        previous = self.run_dir.read_config()
        if previous is None:
            return record
        changes = settings_changes(previous, record)
        if changes and not self.options.allow_mixed:
            raise RunSettingsMismatch(
                f"{self.run_dir.path} holds items made with other settings ({'; '.join(changes)}); use a new "
                "--out, or --force-mixed to add to it anyway (config.json then keeps both)"
            )
        history = list(previous.get("history") or [])
        if changes:
            history.append({key: value for key, value in previous.items() if key != "history"})
        return {**record, "history": history} if history else record

    async def _run_with_checkpoints(self, documents: Iterable[SourceDocument | DocumentError], limit: int | None) -> None:
        async with self._checkpointer() as saver:
            if saver is not None:
                # Recompile whatever graph this runner uses (subclasses set their own) with the checkpointer.
                self.graph = self.graph.builder.compile(checkpointer=saver, name=self.graph.name)
            await self._run_all(documents, limit)

    @contextlib.asynccontextmanager
    async def _checkpointer(self):
        if not self.checkpoint:
            yield None
            return
        with InlineSqliteSaver.open(self.run_dir.file(CHECKPOINTS), serde=checkpoint_serializer()) as saver:
            yield saver

    async def _run_all(self, documents: Iterable[SourceDocument | DocumentError], limit: int | None) -> None:
        concurrency = max(1, self.options.concurrency)
        pending: set[asyncio.Task] = set()
        taken = 0
        try:
            for entry in documents:
                if isinstance(entry, DocumentError):
                    self.record_bad_input(entry)
                    continue
                if limit is not None and taken >= limit:
                    break
                taken += 1
                if self.skip_finished(entry):
                    continue
                # Hold at most `concurrency` documents in memory: wait for a slot before reading on.
                while len(pending) >= concurrency:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    raise_first_error(done)
                pending.add(asyncio.create_task(self.run_document(entry)))
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                raise_first_error(done)
        finally:
            # An error that stops the batch (a full disk) or a cancellation: stop the documents in flight and
            # collect their outcomes, so none is left running or ends as "Task exception was never retrieved".
            await cancel_and_wait(pending)


def raise_first_error(done: set[asyncio.Task]) -> None:
    """Re-raise the first exception among finished document tasks (each one is retrieved)."""
    errors = [task.exception() for task in done if not task.cancelled()]
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first


async def cancel_and_wait(tasks: set[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def data_settings(record: dict[str, Any]) -> dict[str, Any]:
    """The settings in a config.json record that shape the items (concurrency and request limits do not).

    Keys an older config.json lacks come back as None and are not compared.
    """
    context = record.get("context") or {}
    settings = {
        "method": record.get("method", "agentic-self-instruct"),
        "task": record.get("task"),
        "samples": context.get("samples"),
        "consistency_samples": context.get("consistency_samples"),
        "max_rounds": context.get("max_rounds"),
        "seed": record.get("seed"),
        "prompts_hash": record.get("prompts_hash"),
    }
    for name, value in (context.get("policy") or {}).items():
        settings[f"policy.{name}"] = value
    return json.loads(json.dumps(settings, default=str))  # compare what config.json holds, not Python types


def settings_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'name: old -> new' for every data-shaping setting that differs between two config records."""
    before, after = data_settings(previous), data_settings(current)
    names = list(after) + [name for name in before if name not in after]
    return [
        f"{name}: {before.get(name)!r} -> {after.get(name)!r}"
        for name in names
        if before.get(name) is not None and before.get(name) != after.get(name)
    ]


def checkpoint_serializer() -> JsonPlusSerializer:
    """Checkpoints hold our pydantic state records: allow exactly those types to be revived."""
    import autodata.state.schemas as schemas
    import autodata.state.self_instruct_state as graph_state

    allowed = [
        (module.__name__, name)
        for module in (schemas, graph_state)
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, (BaseModel, Enum)) and obj.__module__ == module.__name__
    ]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)

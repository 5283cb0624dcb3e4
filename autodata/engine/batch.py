"""The batch engine: runs one graph over a stream of documents and writes the run directory, resumably.

What is run and what is recorded comes from a `BatchSpec`, which the task registry (autodata/tasks/) defines
for each task's graph and for the baselines; the engine knows no task by name. Each document runs on its own SQLite-checkpointed thread whose id is the deterministic
item id; a re-run skips finished documents, continues interrupted ones and retries failed ones, and writes
each item row at most once, near-duplicate questions dropped.

A thread that pauses for a person's review (`generate --review`) is not finished: it is counted as awaiting
review and listed for `autodata review` (engine/reviews.py), and a later run resumes it with the decision
recorded for that pause, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import StateGraph
from langgraph.types import Command
from pydantic import BaseModel

from autodata.engine.gc import batch_garbage_collection
from autodata.engine.records import RunFacts, RunStats, item_id, round_summary, trajectory_row
from autodata.engine.corpus import DocumentError
from autodata.engine.costs import Budget, Spend, allows_another, role_prices, run_cost, spend
from autodata.engine.dedup import NearDuplicateIndex
from autodata.engine.reviews import Pause, ReviewLog
from autodata.engine.document_store import DOCUMENTS_DIR, DocumentStore, DocumentTextError
from autodata.llm.models import ModelCallFailed, ModelProvider
from autodata.llm import tracing
from autodata.prompting.library import PromptLibrary
from autodata.engine.rundir import CHECKPOINTS, ExtraColumn, RunDirectory, RunDirectoryError, RunSettingsMismatch
from autodata.llm.settings import ConfigError
from autodata.engine.checkpoints import InlineSqliteSaver
from autodata.state.context import RunContext, SolverSamples, TaskDefaults, label_names
from autodata.state.schemas import ROLES, SourceDocument
from autodata.state.self_instruct import merge_usage


@contextlib.contextmanager
def _traces_flushed() -> Any:
    """Send the traces still queued when the batch ends, so the process exits without waiting on them."""
    try:
        yield
    finally:
        tracing.flush()


def _no_extras(state: Any, status: str) -> dict[str, Any]:
    return {}


def _status_as_is(state: Any, status: str) -> str:
    return status


@dataclass(frozen=True)
class BatchSpec:
    """One graph as the batch engine runs it: how to build it, and which rows and counts a document yields."""

    name: str  # the compiled graph's name
    run_label: str  # traces name each document's run "<run_label>:<doc_id>"
    build: Callable[[ModelProvider], StateGraph]  # the uncompiled graph, its nodes bound to the run's provider
    state_type: type[BaseModel]
    recursion_limit: Callable[[RunContext], int]
    prompt_names: Callable[[str, str], list[str]]  # (task, family) -> the prompt files the run's fingerprint covers
    item_row: Callable[[Any, SourceDocument, RunFacts], dict[str, Any]]
    kept_status: str = "accepted"  # the final status whose item goes into items.jsonl
    trajectory_extras: Callable[[Any, str], dict[str, Any]] = _no_extras  # (state, status) -> keys to add
    progress_outcome: Callable[[Any, str], str] = _status_as_is  # (state, status) -> what the progress bar shows
    # A finished trajectory's keys kept in memory for the stats of a re-run (besides each round's outcome).
    summary_keys: tuple[str, ...] = ("status", "usage")
    new_stats: Callable[[str], RunStats] = RunStats  # task -> empty stats
    # Added to config.json and to every run's trace metadata (e.g. a baseline's method).
    record_extras: Mapping[str, Any] = field(default_factory=dict)
    # The graph's context (its `context_schema`): built for each run by `context_type.for_run`.
    context_type: type[SolverSamples] = RunContext
    # Item columns this graph's rows add to the exported dataset, beyond the common ones.
    dataset_columns: tuple[ExtraColumn, ...] = ()
    # The graph pauses where it would keep an item when the run's context sets `review` (nodes/shared/review.py).
    reviewed: bool = False


@dataclass
class GenerateOptions:
    task: str
    samples: int | None = None  # both solvers' samples; unset ones below and here: the run context's defaults
    max_rounds: int | None = None
    seed: int = 0
    concurrency: int = 1
    prompts_dir: str | None = None
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    allow_mixed: bool = False  # resume a run directory whose items were made with other settings
    weak_samples: int | None = None
    strong_samples: int | None = None
    max_cost: float | None = None  # USD for the run directory (every run of it): no new document past it
    max_tokens: int | None = None  # likewise in prompt + completion tokens
    graph_settings: dict[str, Any] = field(default_factory=dict)  # the task's TOML section, as read
    review: bool = False  # pause where an item would be kept, for a person's decision (the context's `review`)
    # The task's family, sample counts and preset where the run sets none (the task registry's); unset: the
    # context type's own.
    defaults: TaskDefaults | None = None

    def context_values(self) -> dict[str, Any]:
        """The run's own context values (what it leaves unset is left out), the task's defaults under them."""
        sizes = {"samples": self.samples, "weak_samples": self.weak_samples, "strong_samples": self.strong_samples,
                 "max_rounds": self.max_rounds}  # fmt: skip
        values = {
            "task": self.task, "prompts_dir": self.prompts_dir, "run_id": self.run_id, "policy": self.policy_overrides,
            **{name: value for name, value in sizes.items() if value is not None},
            **({"review": True} if self.review else {}),
        }  # fmt: skip
        return self.defaults.context_values(values) if self.defaults else values

    def context(self, context_type: type[SolverSamples] = RunContext) -> Any:
        """The run's context as `context_type`, validated as a whole, so a preset named in the overrides fills the
        thresholds the overrides leave unset; the TOML section's knobs are read by the context type."""
        return context_type.for_run(self.context_values(), self.graph_settings)


# Runs the graph for one document and returns the final state's values. The default runs the graph
# in-process; `autodata generate --server URL` swaps in one that submits the run to a LangGraph server.
GraphInvoker = Callable[[SourceDocument, RunContext, dict[str, Any]], Awaitable[dict[str, Any]]]

# One whole batch: options, models, run directory and documents in, the run's stats out.
BatchJob = Callable[[GenerateOptions, ModelProvider, RunDirectory, Sequence[SourceDocument]], Awaitable[RunStats]]


class BatchRunner:
    """One batch job of the graph `spec` describes: documents in, run directory out, resumable."""

    def __init__(
        self,
        spec: BatchSpec,
        options: GenerateOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
        invoke: GraphInvoker | None = None,
        checkpoint: bool = True,
    ) -> None:
        self.spec = spec
        self.options = options
        self.provider = provider
        self.run_dir = run_dir
        self.ctx = options.context(spec.context_type)
        self.stats = spec.new_stats(options.task)
        self.stats.solver_asymmetry = provider.settings.solver_asymmetry()
        self.graph = spec.build(provider).compile(name=spec.name)
        family = self.ctx.task_family.value
        self.prompts_hash = PromptLibrary(options.prompts_dir).fingerprint(spec.prompt_names(options.task, family))
        self.models = {role: provider.model_name(role) for role in ROLES}
        self.facts = RunFacts(ctx=self.ctx, models=self.models, prompts_hash=self.prompts_hash, seed=options.seed)
        self.on_document_done = on_document_done or (lambda doc_id, outcome: None)
        self.on_notice: Callable[[str], None] = lambda line: None  # what the run directory's check healed
        self.invoke = invoke or self._invoke_in_process
        self.checkpoint = checkpoint and invoke is None
        self.duplicates = NearDuplicateIndex()
        self._finished: dict[str, dict[str, Any]] = {}
        self._item_ids: set[str] = set()
        self._error_keys: set[tuple[str, str, str]] = set()
        self._missing_items: set[str] = set()  # accepted by an earlier run, but their item rows are gone
        self.texts = DocumentStore(run_dir.file(DOCUMENTS_DIR))
        self.reviews = ReviewLog(run_dir.path)
        self._write_lock = asyncio.Lock()
        self.prices = role_prices(provider.settings)
        self.budget = Budget(options.max_cost, options.max_tokens)
        self._stopped_by_budget = False
        if unpriced := self.budget.unpriced_roles(self.prices):
            raise ConfigError(
                f"--max-cost needs price_input and price_output for every role; not set for {', '.join(unpriced)} "
                "(in autodata.toml, or AUTODATA_<ROLE>_PRICE_INPUT / _PRICE_OUTPUT)"
            )

    def thread_id(self, doc: SourceDocument) -> str:
        return item_id(self.ctx.task, doc, self.options.seed)

    async def _invoke_in_process(self, doc: SourceDocument, ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
        if self.graph.checkpointer is not None:
            self.texts.restore(doc.text)  # the checkpoint refers to it: a deleted or edited copy is put back
            snapshot = await self.graph.aget_state(config)
            if snapshot.values:
                # `tasks` (not `next`) tells a finished thread from an interrupted one: a task whose writes
                # were saved before the interruption is no longer in `next` but still has to be applied.
                if not snapshot.tasks:
                    self.reviews.note_stale_decisions(self.thread_id(doc), None)
                    return snapshot.values  # finished before a crash, but its rows were never written
                if snapshot.interrupts:
                    return await self._resume_reviewed(snapshot, ctx, config)
                # Continue from the checkpoint.
                return await self.graph.ainvoke(None, config=config, context=ctx, durability="sync")
            # "sync": each step's checkpoint is on disk before the next step starts, so a kill loses at most
            # the step in flight (model calls dominate; the SQLite write costs milliseconds).
            return await self.graph.ainvoke({"document": doc}, config=config, context=ctx, durability="sync")
        return await self.graph.ainvoke({"document": doc}, config=config, context=ctx)

    async def _resume_reviewed(self, snapshot: Any, ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
        """A thread paused for review: resumed with the decision recorded for its pause, else left waiting.

        Only the decision on the pause the thread waits at is applied; once applied, the thread's checkpoint is
        past that pause, so no decision is applied twice (a kill before that checkpoint applies it again)."""
        thread, pause = config["configurable"]["thread_id"], snapshot.interrupts[0]
        self.reviews.note_stale_decisions(thread, pause.id)
        decision = self.reviews.decision_for(thread, pause.id)
        if decision is None:
            return {**snapshot.values, "__interrupt__": list(snapshot.interrupts)}
        self.reviews.note_applied(thread, pause.id)
        return await self.graph.ainvoke(Command(resume=decision), config=config, context=ctx, durability="sync")

    def _record_awaiting(self, doc: SourceDocument, raw: dict[str, Any]) -> str:
        """A document paused for review: listed for `autodata review`, its spending counted, no row written."""
        pause = raw["__interrupt__"][0]
        self.reviews.record_pause(Pause(self.thread_id(doc), doc.doc_id, pause.id, pause.value))
        self.stats.awaiting_review += 1
        self.stats.usage = merge_usage(self.stats.usage, raw.get("usage") or {})
        self.on_document_done(doc.doc_id, "awaiting review")
        return "awaiting review"

    def config_record(self) -> dict[str, Any]:
        return {
            "task": self.options.task,
            "context": self.ctx.model_dump(),
            "seed": self.options.seed,
            "concurrency": self.options.concurrency,
            "prompts_hash": self.prompts_hash,
            "settings": self.provider.settings.public_dict(),
            **self.spec.record_extras,
        }

    def _load_previous_run(self) -> None:
        """What an interrupted earlier run of this command already wrote, checked: torn last lines, lines that
        are not rows and repeated rows are removed (saying so); an accepted document whose item row is gone is
        noted, for its row to be written again from its finished checkpoint (`_restore_items`)."""
        self.run_dir.repair()
        for note in self.run_dir.check_rows():
            self.on_notice(note)
        self._finished = {row["id"]: self.finished_summary(row) for row in self.run_dir.trajectories()}
        for item in self.run_dir.items():
            self._item_ids.add(item["id"])
            self.duplicates.add(item["id"], item.get("question") or "")
        kept = self.spec.kept_status
        self._missing_items = {
            row_id for row_id, row in self._finished.items() if row.get("status") == kept and row_id not in self._item_ids
        }  # fmt: skip
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
        row = {"doc_id": error.doc_id, "path": error.path, "kind": "bad_input", "reason": error.reason}
        self._append_error_once(row)
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
            "recursion_limit": self.spec.recursion_limit(self.ctx),
            "run_name": f"{self.spec.run_label}:{doc.doc_id}",
            # Inherited by every node and model-call run: a LangSmith filter finds a task's or method's runs.
            "tags": [f"task:{self.ctx.task}", f"method:{self.spec.record_extras.get('method', self.spec.name)}"],
            "metadata": {
                "task": self.ctx.task, "document_id": doc.doc_id, "run_id": self.ctx.run_id, **self.spec.record_extras,
            },  # fmt: skip
            # Also the LangGraph server's thread id under `--server` (see autodata/remote.py).
            "configurable": {"thread_id": self.thread_id(doc)},
        }

    def finished_summary(self, trajectory: dict[str, Any]) -> dict[str, Any]:
        """What a finished document's trajectory row gives the stats when a re-run skips the document.

        Kept in memory per finished document instead of the whole row (solver answers, judge verdicts: tens
        of KB), so memory stays flat as the corpus grows.
        """
        summary = {key: trajectory[key] for key in self.spec.summary_keys if key in trajectory}
        summary["rounds"] = [round_summary(record) for record in trajectory.get("rounds", [])]
        return summary

    def _trajectory(
        self, row_id: str, state: Any, doc: SourceDocument, status: str, duplicate_of: str | None, seconds: float
    ) -> dict[str, Any]:
        row = trajectory_row(row_id, self.ctx.task, state, doc, status, duplicate_of, seconds)
        return {**row, **self.spec.trajectory_extras(state, status)}

    async def run_document(self, doc: SourceDocument) -> str:
        started = time.monotonic()
        try:
            raw = await self.invoke(doc, self.ctx, self.graph_config(doc))
        except ConfigError:
            raise  # the configuration is wrong (the endpoint breaker tripped): the whole batch stops
        except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the batch
            return self.record_failure(doc, exc)
        if raw.get("__interrupt__"):
            return self._record_awaiting(doc, raw)
        state = self.spec.state_type.model_validate(raw)
        row_id = self.thread_id(doc)
        async with self._write_lock:  # the duplicate check and the writes happen as one step
            status, duplicate_of = state.status, None
            if status == self.spec.kept_status and row_id not in self._item_ids:  # written before a crash: keep
                duplicate_of = self.duplicates.duplicate_of(state.accepted_item.question)
                if duplicate_of is None:
                    row = self.spec.item_row(state, doc, self.facts)
                    self.run_dir.append_item(row)
                    self._item_ids.add(row_id)
                    self.duplicates.add(row_id, row["question"])
                else:
                    status = "duplicate"
            trajectory = self._trajectory(row_id, state, doc, status, duplicate_of, time.monotonic() - started)
            self.run_dir.append_trajectory(trajectory)
            self._finished[row_id] = self.finished_summary(trajectory)
            self.stats.absorb(trajectory)
        outcome = self.spec.progress_outcome(state, status)
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
        tracing.install()  # no-op unless LangSmith tracing is on
        with self.run_dir.lock(), _traces_flushed():
            config = self.resume_config()  # before anything is touched: a refused resume changes nothing
            self._load_previous_run()
            self.run_dir.write_config(config)
            try:
                with batch_garbage_collection():
                    await self._run_with_checkpoints(documents, limit)
                self._refuse_lost_items()
            except BaseException:
                # The batch stopped early (an error, Ctrl-C, SIGTERM): keep what finished in stats.json and the
                # dataset if the disk lets us; what stopped it is what the caller sees.
                with contextlib.suppress(Exception):
                    self._write_outputs(started)
                raise
            self._write_outputs(started)
        return self.stats

    def _write_outputs(self, started: float) -> None:
        self.stats.wall_seconds = time.monotonic() - started
        self.stats.endpoints = self.provider.endpoint_limits()
        self.stats.cost = run_cost(self.stats.usage, self.prices, self.stats.documents, self.stats.accepted).as_dict()
        if self._stopped_by_budget:
            self.stats.budget_stop = (
                f"{self.budget.describe()} reached: spent {self._spent().describe()}, the documents that were in "
                "flight included; documents not started yet are left for a re-run with a higher budget"
            )
        self.run_dir.write_stats(self.stats.as_dict())
        self.run_dir.save_dataset(self.spec.dataset_columns)

    def resume_config(self) -> dict[str, Any]:
        """This run's config.json: refused (RunSettingsMismatch) when the directory holds items made under
        other data-shaping settings, unless `allow_mixed`; then the earlier configurations go to `history`."""
        record = self.config_record()
        previous = self.run_dir.read_config()
        if previous is None:
            return record
        changes = settings_changes(previous, record, label_names(type(self.ctx)))
        if changes and not self.options.allow_mixed:
            raise RunSettingsMismatch(
                f"{self.run_dir.path} holds items made with other settings ({'; '.join(changes)}); use a new "
                "--out, or --force-mixed to add to it anyway (config.json then keeps both)"
            )
        history = list(previous.get("history") or [])
        if changes:
            history.append({key: value for key, value in previous.items() if key != "history"})
        return {**record, "history": history} if history else record

    async def _run_with_checkpoints(
        self, documents: Iterable[SourceDocument | DocumentError], limit: int | None
    ) -> None:
        async with self._checkpointer() as saver:
            if saver is not None:
                self.graph = self.graph.builder.compile(checkpointer=saver, name=self.graph.name)
            await self._restore_items()
            await self._run_all(documents, limit)

    async def _finished_state(self, row_id: str, doc: SourceDocument | None = None) -> Any | None:
        """The final state of a finished, accepted document's thread, or None (no checkpoint, not finished, or
        its document text missing and `doc` not given to restore it)."""
        if self.graph.checkpointer is None:
            return None
        if doc is not None:
            self.texts.restore(doc.text)
        try:
            snapshot = await self.graph.aget_state({"configurable": {"thread_id": row_id}})
        except DocumentTextError:
            return None
        if not snapshot.values or snapshot.tasks:
            return None
        state = self.spec.state_type.model_validate(snapshot.values)
        return state if state.status == self.spec.kept_status else None

    async def _restore_items(self, doc: SourceDocument | None = None) -> None:
        """Write again the item rows of accepted documents that items.jsonl lost (a deleted file, a removed line),
        from their finished checkpoints: no model call. `doc`: only that document's, its text restored first."""
        wanted = [self.thread_id(doc)] if doc is not None else sorted(self._missing_items)
        for row_id in wanted:
            state = await self._finished_state(row_id, doc)
            if state is None:
                continue  # tried again when its document comes by (its text restored from the sources)
            async with self._write_lock:
                row = self.spec.item_row(state, doc or state.document, self.facts)
                self.run_dir.append_item(row)
                self._item_ids.add(row_id)
                self.duplicates.add(row_id, row["question"])
                self._missing_items.discard(row_id)
            self.on_notice(f"items.jsonl: the row of accepted document {state.document.doc_id} was missing; "
                           "written again from its checkpoint")  # fmt: skip

    def _refuse_lost_items(self) -> None:
        """Never end as if complete with fewer items than the run directory accepted."""
        if self._missing_items:
            lost = sorted(self._missing_items)
            raise RunDirectoryError(
                f"{self.run_dir.path}: {len(lost)} accepted item(s) are missing from items.jsonl and could not be "
                f"rebuilt (no finished checkpoint, and the document was not in this run's sources), e.g. {lost[0]}; "
                "restore items.jsonl, or run with the original --sources and no --limit"
            )

    @contextlib.asynccontextmanager
    async def _checkpointer(self) -> AsyncIterator[InlineSqliteSaver | None]:
        if not self.checkpoint:
            yield None
            return
        path, documents = self.run_dir.file(CHECKPOINTS), self.run_dir.file(DOCUMENTS_DIR)
        with InlineSqliteSaver.open(path, documents=documents, keep_history=False) as saver:
            yield saver

    def _spent(self) -> Spend:
        counted = self.stats.documents + self.stats.failed  # the documents whose usage is in the stats
        return spend(self.stats.usage, self.prices, counted)

    def _awaiting_first_estimate(self) -> bool:
        """True while a budget is set and no document's spending is known yet."""
        return self.budget.is_set and self._spent().documents == 0

    def _within_budget(self, in_flight: int) -> bool:
        """False once one more document would be expected to exceed the budget (the run then stops starting)."""
        if not self.budget.is_set or allows_another(self.budget, self._spent(), in_flight):
            return True
        self._stopped_by_budget = True
        return False

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
                if self.thread_id(entry) in self._missing_items:
                    await self._restore_items(entry)
                if self.skip_finished(entry):
                    continue
                # Hold at most `concurrency` documents in memory: wait for a slot before reading on. Under a
                # budget, the first document runs alone: the next ones start on its cost, not on no estimate.
                while len(pending) >= concurrency or (pending and self._awaiting_first_estimate()):
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    raise_first_error(done)
                if not self._within_budget(len(pending)):
                    break  # the documents in flight finish below; the rest wait for a re-run
                pending.add(asyncio.create_task(self.run_document(entry)))
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                raise_first_error(done)
        finally:
            # An error that stops the batch (a full disk) or a cancellation: stop the documents in flight and
            # collect their outcomes, so none is left running or ends as "Task exception was never retrieved".
            await cancel_and_wait(pending)


def batch_job(spec: BatchSpec) -> BatchJob:
    """The engine bound to one graph's spec as a plain async function (what the meta-optimizer evaluates with)."""

    async def run(
        options: GenerateOptions, provider: ModelProvider, run_dir: RunDirectory, documents: Sequence[SourceDocument]
    ) -> RunStats:
        return await BatchRunner(spec, options, provider, run_dir).run(documents)

    return run


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


# The config.json keys beside the context that shape the items (concurrency and request limits do not; of the
# model settings, each role's model and the reading budget do: `_model_settings`).
RECORD_DATA_KEYS = ("method", "task", "seed", "prompts_hash")


def data_settings(record: dict[str, Any], labels: Iterable[str] = ()) -> dict[str, Any]:
    """The settings in a config.json record that shape the items: its data keys and its whole context except the
    context type's label fields (`label_field`: run id, prompts folder), nested values flattened to
    `name.key`. Keys an older config.json lacks come back absent and are not compared."""
    settings: dict[str, Any] = {"method": record.get("method", "agentic-self-instruct")}
    settings.update({key: record.get(key) for key in RECORD_DATA_KEYS if key != "method"})
    settings.update(_model_settings(record.get("settings") or {}))
    skipped = set(labels)
    for name, value in (record.get("context") or {}).items():
        if name in skipped:
            continue
        if isinstance(value, dict):
            settings.update({f"{name}.{key}": inner for key, inner in value.items()})
        else:
            settings[name] = value
    return json.loads(json.dumps(settings, default=str))  # compare what config.json holds, not Python types


def _model_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """What a config.json's model settings contribute to the items' meaning: each role's model and the reading
    budget (max_source_chars decides a long document's spans, and so which items it yields)."""
    shaping = {f"models.{role}": (cfg or {}).get("model") for role, cfg in (settings.get("roles") or {}).items()}
    shaping["max_source_chars"] = settings.get("max_source_chars")
    return shaping


def settings_changes(previous: dict[str, Any], current: dict[str, Any], labels: Iterable[str] = ()) -> list[str]:
    """'name: old -> new' for every data-shaping setting that differs between two config records."""
    before, after = data_settings(previous, labels), data_settings(current, labels)
    names = list(after) + [name for name in before if name not in after]
    return [
        f"{name}: {before.get(name)!r} -> {after.get(name)!r}"
        for name in names
        if before.get(name) is not None and before.get(name) != after.get(name)
    ]

"""Runs the self_instruct graph over a stream of documents and writes the run directory."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from autodata.corpus import DocumentError
from autodata.models import ModelProvider
from autodata.prompts import PromptLibrary, prompt_names
from autodata.rundir import RunDirectory
from autodata.tasks import task_spec
from graphs.self_instruct import build_self_instruct, recursion_limit
from state.context import RunContext
from state.graph_state import SelfInstructState
from state.schemas import ROLES, RoleUsage, RoundOutcome, SourceDocument


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
    wall_seconds: float = 0.0

    def add_usage(self, usage: dict[str, Any]) -> None:
        for role, delta in usage.items():
            delta = RoleUsage.model_validate(delta)
            self.usage[role] = self.usage[role].plus(delta) if role in self.usage else delta

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
    """One `autodata generate` job: documents in, run directory out."""

    def __init__(
        self,
        options: GenerateOptions,
        provider: ModelProvider,
        run_dir: RunDirectory,
        on_document_done: Callable[[str, str], None] | None = None,
        invoke: GraphInvoker | None = None,
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

    async def _invoke_in_process(self, doc: SourceDocument, ctx: RunContext, config: dict[str, Any]) -> dict[str, Any]:
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

    def record_bad_input(self, error: DocumentError) -> None:
        self.stats.bad_input += 1
        self.run_dir.append_error({"doc_id": error.doc_id, "path": error.path, "kind": "bad_input", "reason": error.reason})
        self.on_document_done(error.doc_id, "bad input")

    async def run_document(self, doc: SourceDocument) -> str:
        started = time.monotonic()
        config = {
            "recursion_limit": recursion_limit(self.ctx.max_rounds),
            "run_name": f"self_instruct:{doc.doc_id}",
            "metadata": {"task": self.ctx.task, "document_id": doc.doc_id, "run_id": self.ctx.run_id},
        }
        try:
            raw = await self.invoke(doc, self.ctx, config)
        except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the batch
            self.stats.failed += 1
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            self.run_dir.append_error({"doc_id": doc.doc_id, "path": doc.path, "kind": "failed", "reason": reason})
            self.on_document_done(doc.doc_id, "failed")
            return "failed"
        state = SelfInstructState.model_validate(raw)
        self.stats.documents += 1
        self.stats.rounds += len(state.rounds)
        self.stats.add_usage(state.usage)
        for record in state.rounds:
            if record.outcome is not RoundOutcome.ACCEPTED:
                self.stats.rejections[record.outcome.value] += 1
        if state.status == "accepted":
            self.stats.accepted += 1
            self.stats.rounds_per_accepted.append(len(state.rounds))
            self.run_dir.append_item(
                _item_row(state, doc, self.ctx, self.models, self.prompts_hash, self.options.seed)
            )
        else:
            self.stats.exhausted += 1
        self.run_dir.append_trajectory(
            {
                "id": item_id(self.ctx.task, doc, self.options.seed),
                "task": self.ctx.task,
                "doc_id": doc.doc_id,
                "source_path": doc.path,
                "status": state.status,
                "seconds": round(time.monotonic() - started, 2),
                "usage": {role: usage.model_dump() for role, usage in state.usage.items()},
                "rounds": [record.model_dump(mode="json") for record in state.rounds],
            }
        )
        self.on_document_done(doc.doc_id, state.status)
        return state.status

    async def run(self, documents: Iterable[SourceDocument | DocumentError], limit: int | None = None) -> RunStats:
        started = time.monotonic()
        self.run_dir.write_config(self.config_record())
        semaphore = asyncio.Semaphore(max(1, self.options.concurrency))
        pending: set[asyncio.Task] = set()

        async def guarded(doc: SourceDocument) -> None:
            async with semaphore:
                await self.run_document(doc)

        taken = 0
        for entry in documents:
            if isinstance(entry, DocumentError):
                self.record_bad_input(entry)
                continue
            if limit is not None and taken >= limit:
                break
            taken += 1
            # Hold at most `concurrency` documents in memory: wait for a slot before reading on.
            while len(pending) >= max(1, self.options.concurrency):
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(guarded(entry)))
        if pending:
            await asyncio.gather(*pending)
        self.stats.wall_seconds = time.monotonic() - started
        self.run_dir.write_stats(self.stats.as_dict())
        self.run_dir.save_dataset()
        return self.stats

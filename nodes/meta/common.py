"""Helpers the meta-optimizer's nodes share: their services, context, documents, version store, and
evaluating a version.

The graph builder (graphs/meta_optimizer.py) binds one `MetaServices` to every node that needs it: the model
provider, the batch job that runs the optimized task's own graph, and that task's prompts (which of them may
be edited). So no node reaches up to the task registry or the application layer.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import statistics
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.runnables.config import var_child_runnable_config

from autodata.engine.batch import BatchJob, GenerateOptions
from autodata.engine.corpus import iter_documents
from autodata.meta.copy_guard import CopyGuard, GuardedDocument
from autodata.meta.splits import split_documents
from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import context_as
from autodata.prompting.versions import VERSIONS_DIR, PromptScope, VersionStore
from autodata.engine.rundir import RunDirectory
from autodata.state.meta import Evaluation, MetaContext, Split
from autodata.state.schemas import RoleUsage, SourceDocument
from autodata.state.self_instruct import merge_usage

T = TypeVar("T")
FALLBACK_META_ROLE = "challenger"


@dataclass(frozen=True)
class MetaServices:
    """What the graph builder gives the nodes: models, the evaluation of a version, and the task's prompts."""

    provider: ModelProvider
    run_batch: BatchJob  # one batch of the optimized task's own graph
    prompts: PromptScope  # the prompts that graph reads, editable and frozen

    def scope(self, ctx: MetaContext) -> PromptScope:
        """The task's prompts as this run sees them (`--open-qv` opens the quality verifier)."""
        return dataclasses.replace(self.prompts, open_qv=ctx.open_qv)


def meta_context(runtime: Any) -> MetaContext:
    return context_as(runtime, MetaContext)


def version_store(ctx: MetaContext, services: MetaServices) -> VersionStore:
    return VersionStore(Path(ctx.run_dir) / VERSIONS_DIR, services.scope(ctx))


def meta_role(provider: ModelProvider, role: str) -> str:
    """`analyzer`/`implementer` when the settings define them (the optimize command does), else the challenger's model."""
    return role if role in provider.settings.roles else FALLBACK_META_ROLE


def add_usage(usage: dict[str, RoleUsage], role: str, delta: RoleUsage) -> dict[str, RoleUsage]:
    return merge_usage(usage, {role: delta})


@lru_cache(maxsize=8)
def load_documents(source: str, max_chars: int, seed: int) -> tuple[SourceDocument, ...]:
    """Usable documents under `source` (unusable ones are skipped: an evaluation scores only real documents)."""
    return tuple(doc for doc in iter_documents(source, max_chars, seed) if isinstance(doc, SourceDocument))


def documents(ctx: MetaContext, split: Split, services: MetaServices) -> tuple[SourceDocument, ...]:
    """The split's documents: cut from `ctx.sources` by doc id and seed, or read from --train / --val / --test."""
    max_chars = services.provider.settings.max_source_chars
    if ctx.sources:
        corpus = load_documents(ctx.sources, max_chars, ctx.seed)
        splits = split_documents(corpus, ctx.seed, ctx.train_size, ctx.val_size)
        by_name = {"minibatch": splits.train, "screen": splits.train, "validation": splits.validation}
        return by_name.get(split, splits.test)
    source = {"minibatch": ctx.train, "screen": ctx.train, "validation": ctx.val, "test": ctx.test}[split]
    return load_documents(source, max_chars, ctx.seed) if source else ()


def copy_guard(ctx: MetaContext, services: MetaServices) -> CopyGuard:
    """Guards prompt edits against text of the documents the optimizer is scored on (validation and test)."""
    guarded = [
        GuardedDocument(split, doc.doc_id, doc.text)
        for split in ("validation", "test") for doc in documents(ctx, split, services)
    ]  # fmt: skip
    return _cached_guard(tuple(guarded), ctx.copy_span)


@lru_cache(maxsize=4)
def _cached_guard(guarded: tuple[GuardedDocument, ...], span: int) -> CopyGuard:
    return CopyGuard(guarded, span)


async def isolated(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` outside the calling node's LangGraph config.

    A graph invoked inside a node otherwise becomes a subgraph of the meta-optimizer and writes into its
    checkpointer under per-call namespaces; after a resume those could hand one document another's state.
    """
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, None)
    return await asyncio.create_task(coro, context=context)


def evaluation_dir(ctx: MetaContext, version: str, split: Split, iteration: int, repeat: int = 0) -> Path:
    suffix = f"-r{repeat}" if repeat else ""
    return Path(ctx.run_dir) / "evals" / f"i{iteration:04d}-{split}-{version}{suffix}"


def repeat_seed(ctx: MetaContext, repeat: int) -> int:
    """The run seed of validation repeat `repeat`: parent and child share it, so they see the same documents
    under the same seed, and the repeats differ from each other."""
    return ctx.seed + repeat


def read_evaluation(
    run_dir: Path, docs: Sequence[SourceDocument], version: str, split: Split, iteration: int, repeat: int = 0,
    seed: int | None = None,
) -> Evaluation:
    """Score from the run directory's files, one row per document (a re-run after a crash may repeat rows)."""
    wanted = {doc.doc_id for doc in docs}
    directory = RunDirectory(run_dir)
    gaps = {row["source_doc_id"]: row.get("gap") for row in directory.items() if row.get("source_doc_id") in wanted}
    known_gaps = [gap for gap in gaps.values() if gap is not None]
    usage: dict[str, RoleUsage] = {}
    latest = {row["doc_id"]: row for row in directory.trajectories() if row.get("doc_id") in wanted}
    for row in latest.values():
        usage = merge_usage(usage, {role: RoleUsage(**u) for role, u in row.get("usage", {}).items()})
    return Evaluation(
        version=version, iteration=iteration, split=split, documents=len(docs), accepted=len(gaps),
        mean_gap=statistics.fmean(known_gaps) if known_gaps else None, run_dir=str(run_dir),
        doc_ids=[doc.doc_id for doc in docs], accepted_docs=[doc.doc_id for doc in docs if doc.doc_id in gaps],
        usage=usage, repeat=repeat, seed=seed,
    )  # fmt: skip


def policy_overrides(ctx: MetaContext, provider: ModelProvider) -> dict[str, Any]:
    """The run's [policy] overrides, with the optimization's acceptance preset (e.g. `meta`) when one is chosen."""
    overrides = dict(provider.settings.policy)
    return {**overrides, "preset": ctx.policy_preset} if ctx.policy_preset else overrides


async def evaluate_version(
    services: MetaServices, ctx: MetaContext, version: str, docs: Sequence[SourceDocument], split: Split,
    iteration: int, repeat: int = 0,
) -> Evaluation:
    """Run the task's own graph (`services.run_batch`) with the version's prompts over `docs`, with the task's
    sample counts unless the run sets them, under the run's preset (the method's `meta` unless it names
    another); a validation repeat runs in its own directory with its own seed."""
    store = version_store(ctx, services)
    store.assert_frozen_intact(version)
    provider = services.provider
    target = evaluation_dir(ctx, version, split, iteration, repeat)
    seed = repeat_seed(ctx, repeat)
    options = GenerateOptions(
        task=ctx.task, samples=ctx.samples, max_rounds=ctx.max_rounds, seed=seed, concurrency=ctx.concurrency,
        prompts_dir=str(store.path(version)), policy_overrides=policy_overrides(ctx, provider), run_id=target.name,
    )  # fmt: skip
    await isolated(services.run_batch(options, provider, RunDirectory(target), list(docs)))
    return read_evaluation(target, docs, version, split, iteration, repeat, seed)


async def evaluate_repeats(
    services: MetaServices, ctx: MetaContext, version: str, docs: Sequence[SourceDocument], iteration: int
) -> list[Evaluation]:
    """`ctx.repeats` validation runs of one version on the same documents, one per repeat seed."""
    return list(await asyncio.gather(*(
        evaluate_version(services, ctx, version, docs, "validation", iteration, repeat)
        for repeat in range(ctx.repeats)
    )))  # fmt: skip

"""Helpers the meta-optimizer's nodes share: context, documents, version store, and evaluating a version."""

from __future__ import annotations

import asyncio
import contextvars
import statistics
from collections.abc import Coroutine, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.runnables.config import var_child_runnable_config

from autodata.corpus import iter_documents
from autodata.models import ModelProvider, current_provider
from autodata.nodes._common import context_as
from autodata.prompt_versions import VERSIONS_DIR, VersionStore
from autodata.rundir import RunDirectory
from autodata.runner import GenerateOptions, Generator
from autodata.state.meta_state import Evaluation, MetaContext, Split
from autodata.state.schemas import RoleUsage, SourceDocument
from autodata.state.self_instruct_state import merge_usage

T = TypeVar("T")
FALLBACK_META_ROLE = "challenger"


def meta_context(runtime: Any) -> MetaContext:
    return context_as(runtime, MetaContext)


def version_store(ctx: MetaContext) -> VersionStore:
    return VersionStore(Path(ctx.run_dir) / VERSIONS_DIR, ctx.task)


def meta_role(provider: ModelProvider, role: str) -> str:
    """`analyzer`/`implementer` when the settings define them (the optimize command does), else the challenger's model."""
    return role if role in provider.settings.roles else FALLBACK_META_ROLE


def add_usage(usage: dict[str, RoleUsage], role: str, delta: RoleUsage) -> dict[str, RoleUsage]:
    return merge_usage(usage, {role: delta})


@lru_cache(maxsize=8)
def load_documents(source: str, max_chars: int, seed: int) -> tuple[SourceDocument, ...]:
    """Usable documents under `source` (unusable ones are skipped: an evaluation scores only real documents)."""
    return tuple(doc for doc in iter_documents(source, max_chars, seed) if isinstance(doc, SourceDocument))


def documents(ctx: MetaContext, split: Split) -> tuple[SourceDocument, ...]:
    source = ctx.train if split == "minibatch" else ctx.val
    return load_documents(source, current_provider().settings.max_source_chars, ctx.seed)


async def isolated(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` outside the calling node's LangGraph config.

    A graph invoked inside a node otherwise becomes a subgraph of the meta-optimizer and writes into its
    checkpointer under per-call namespaces; after a resume those could hand one document another's state.
    """
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, None)
    return await asyncio.create_task(coro, context=context)


def evaluation_dir(ctx: MetaContext, version: str, split: Split, iteration: int) -> Path:
    return Path(ctx.run_dir) / "evals" / f"i{iteration:04d}-{split}-{version}"


def read_evaluation(run_dir: Path, docs: Sequence[SourceDocument], version: str, split: Split, iteration: int) -> Evaluation:
    """Score from the run directory's files, one row per document (a re-run after a crash may repeat rows)."""
    wanted = {doc.doc_id for doc in docs}
    gaps = {row["source_doc_id"]: row.get("gap") for row in RunDirectory(run_dir).items() if row.get("source_doc_id") in wanted}
    known_gaps = [gap for gap in gaps.values() if gap is not None]
    return Evaluation(
        version=version, iteration=iteration, split=split, documents=len(docs), accepted=len(gaps),
        mean_gap=statistics.fmean(known_gaps) if known_gaps else None, run_dir=str(run_dir),
    )  # fmt: skip


async def evaluate_version(
    ctx: MetaContext, version: str, docs: Sequence[SourceDocument], split: Split, iteration: int
) -> Evaluation:
    """Run the inner graph with the version's prompts over `docs`; the run's own acceptance policy applies."""
    store = version_store(ctx)
    store.assert_frozen_intact(version)
    provider = current_provider()
    target = evaluation_dir(ctx, version, split, iteration)
    options = GenerateOptions(
        task=ctx.task, samples=ctx.samples, max_rounds=ctx.max_rounds, seed=ctx.seed, concurrency=ctx.concurrency,
        prompts_dir=str(store.path(version)), policy_overrides=provider.settings.policy, run_id=target.name,
    )  # fmt: skip
    generator = Generator(options, provider, RunDirectory(target))
    await isolated(generator.run(list(docs)))
    return read_evaluation(target, docs, version, split, iteration)

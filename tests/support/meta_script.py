"""Scripted models for the meta-optimizer: the inner roles react to the prompts in use, so a prompt edit
really changes the pass rate, and the analyzer/implementer follow a script the test chooses."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from autodata.llm.models import ModelProvider
from autodata.meta.optimize import META_ROLES, UpdateHandler, run_optimization, with_meta_roles
from autodata.llm.settings import load_settings
from autodata.state.meta import MetaContext, MetaState
from autodata.tasks import task_spec
from autodata.tasks.meta_optimizer import meta_optimizer_for
from autodata.state.schemas import ROLES
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import Script, ScriptedChatModel

# A challenger prompt containing this line makes the scripted challenger write hard (acceptable) items.
HARDER = "Make every question need two steps of reasoning (HARDER)."
CHALLENGER = "challenger_cs-research.md"


def solver(role: str, question: str) -> str:
    """The weak solver gets easy questions right; the strong one gets everything right."""
    return "strong-quality answer" if role == "strong" or "easy" in question.lower() else "weak answer"


def current_file(messages: list[BaseMessage], name: str) -> str:
    """A file's content as the implementer prompt shows it."""
    text = str(messages[-1].content)
    match = re.search(rf"=== {re.escape(name)} ===\n(.*?)\n=== end of {re.escape(name)} ===", text, re.S)
    assert match, f"{name} is not in the implementer prompt"
    return match.group(1)


def add_harder_line(messages: list[BaseMessage]) -> dict[str, Any]:
    content = current_file(messages, CHALLENGER).replace("<!-- user -->", f"{HARDER}\n<!-- user -->", 1)
    return {"summary": "Ask for multi-step reasoning.", "edits": [{"file": CHALLENGER, "content": content}]}


def reword_only(messages: list[BaseMessage]) -> dict[str, Any]:
    """An edit that changes the file but not the scripted challenger's behaviour."""
    content = current_file(messages, CHALLENGER).replace("<!-- user -->", "Be precise.\n<!-- user -->", 1)
    return {"summary": "Reworded.", "edits": [{"file": CHALLENGER, "content": content}]}


@dataclass
class MetaScript:
    implementer: Callable[[list[BaseMessage]], dict[str, Any]] = add_harder_line
    analysis: str = "Most items were TOO EASY: the challenger asks recall questions."
    calls: dict[str, list[str]] = field(default_factory=dict)
    inner: GraphScript = field(default_factory=lambda: GraphScript(items=[], solver=solver))

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        self.calls.setdefault(role, []).append("\n".join(str(m.content) for m in messages))
        if role == "analyzer":
            return self.analysis
        if role == "implementer":
            return self.implementer(messages)
        if role == "challenger":
            title = str(messages[-1].content).split("\n", 1)[0].removeprefix("Paper: ")
            hard = HARDER in str(messages[0].content)
            question = f"Why does {title} need two reasoning steps?" if hard else f"An easy recall question about {title}?"
            return rubric_item(question)
        return self.inner(role, messages, tool)


def meta_provider(script: Script) -> ModelProvider:
    settings = with_meta_roles(load_settings(env={}), env={}).model_copy(update={"retry_initial_wait": 0.0})
    models = {role: ScriptedChatModel(role=role, script=script) for role in (*ROLES, *META_ROLES)}
    return ModelProvider(settings, chat_models=models)


async def run_meta(
    ctx: MetaContext, iterations: int, provider: ModelProvider, on_update: UpdateHandler | None = None
) -> MetaState:
    """`run_optimization` over the context's task, as `autodata optimize` runs it, with `provider`'s models."""
    return await run_optimization(ctx, iterations, lambda: meta_optimizer_for(task_spec(ctx.task), provider), on_update)


TOPICS = (
    "dropout regularisation", "graph neural networks", "bayesian optimisation", "connectionist temporal classification",
    "t-SNE embeddings", "checkerboard artifacts", "temporal difference learning", "memorisation in recurrent nets",
)


def write_corpus(directory: Path, names: list[str]) -> Path:
    """Small distinct documents (distinct titles keep questions from looking like near duplicates)."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        topic = TOPICS[index % len(TOPICS)] + f" {name}"
        body = f"# {topic}\n\nThis paper studies {topic}. " + hashlib.sha256(name.encode()).hexdigest()
        (directory / f"{name}.md").write_text(body, encoding="utf-8")
    return directory


def meta_context(tmp_path: Path, **overrides: Any) -> MetaContext:
    train = write_corpus(tmp_path / "train", ["alpha", "beta", "gamma"])
    val = write_corpus(tmp_path / "val", ["delta", "epsilon"])
    fields = {
        "task": "cs-research", "train": str(train), "val": str(val), "run_dir": str(tmp_path / "run"),
        "samples": 2, "max_rounds": 1, "minibatch": 2, "temperature": 0.1, "seed": 0, "repeats": 1,
    }  # fmt: skip
    return MetaContext(**{**fields, **overrides})

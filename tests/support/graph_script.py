"""Builds scripts for the scripted chat model that drive the self_instruct graph down a chosen branch."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from autodata.state.schemas import SourceDocument
from tests.support.scripted import last_user_text


def rubric_item(question: str, context: str = "Background facts about the method.", n: int = 10) -> dict[str, Any]:
    criteria = [{"criterion": f"mentions point {i}", "weight": 1.0} for i in range(n - 1)]
    criteria.append({"criterion": "claims the method needs labels", "weight": -2.0})
    return {"context": context, "question": question, "reference_answer": "It trades bias for variance.", "rubric": criteria}


def make_document(text: str = "A paper about regularisation. Dropout zeroes activations at random.") -> SourceDocument:
    return SourceDocument(
        doc_id="doc-1", path="fixtures/doc-1.md", title="Regularisation", text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(), span=(0, len(text)), total_chars=len(text),
    )  # fmt: skip


@dataclass
class GraphScript:
    """Per-role behaviour; `items` are the challenger's outputs, one per round (the last one repeats)."""

    items: list[Any]
    solver: Callable[[str, str], str] = lambda role, question: f"{role} answer"
    judge_hits: Callable[[str, int], list[bool]] = lambda answer, n: [answer.startswith("strong")] * (n - 1) + [False]
    quality: Callable[[str], dict[str, Any]] = lambda question: {"passed": True, "reasons": []}
    orchestrator: str = "Ask about the interaction between two mechanisms instead."
    calls: dict[str, list[str]] = field(default_factory=dict)

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = last_user_text(messages)
        self.calls.setdefault(role, []).append("\n".join(str(m.content) for m in messages))
        if role == "challenger":
            index = min(len(self.calls[role]) - 1, len(self.items) - 1)
            item = self.items[index]
            if isinstance(item, Exception):
                raise item
            return item
        if role == "quality_verifier":
            return self.quality(text)
        if role in ("weak", "strong"):
            question = text.split("Question:")[-1].strip() if "Question:" in text else text
            return self.solver(role, question)
        if role == "judge":
            answer = text.split("<answer>")[1].split("</answer>")[0].strip()
            n = sum(1 for line in text.splitlines() if line[:1].isdigit() and ". " in line)
            return {"verdicts": self.judge_hits(answer, n)}
        return self.orchestrator


def per_document_script(stall_on: str | None = None, stall=None):
    """A script whose answers depend only on the document (never on call order), so runs are reproducible
    across concurrency, crashes and resumes: the question names the paper; strong passes, weak fails."""
    base = GraphScript(items=[None])

    def script(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = last_user_text(messages)
        if role == "challenger":
            paper = text.split("Paper: ")[1].splitlines()[0] if "Paper: " in text else "the paper"
            return rubric_item(f"How does the method in {paper} handle case {paper[-1]} specifically under load?")
        if stall is not None and role == "strong" and stall_on in text:
            stall.entered.set()
            stall.release.wait(30)
        return base(role, messages, tool)

    return script

"""Builds scripts for the scripted chat model that drive the self_instruct graph down a chosen branch."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from autodata.state.schemas import SourceDocument
from tests.support.legal_script import LEGAL_TOOLS, legal_tool_reply, varied, weak_variant
from tests.support.science_script import SCIENCE_TOOLS, ScienceScript, science_draft
from tests.support.scripted import last_user_text

DEFAULT_CONTEXT = (
    "Dropout sets a random fraction of hidden activations to zero at every training step, and at test time the "
    "network runs with every unit active and its outputs rescaled. The setting is a small labelled dataset and a "
    "large network that would otherwise fit it closely."
)
LEGAL_RUBRIC_MARK = "of the deposit rule"  # in every criterion legal_script.legal_item writes
NEGATIVES = 3  # rubric_item's last three criteria are negative (errors), as METHOD.md section 2 asks for 3-5


def rubric_item(question: str, context: str = DEFAULT_CONTEXT, n: int = 10) -> dict[str, Any]:
    """An item whose rubric meets the code rules: n - 3 positive criteria of weight 1, then 3 negative ones."""
    criteria = [
        {"criterion": f"mentions point {i}", "weight": 1.0, "category": "positive"} for i in range(n - NEGATIVES)
    ]
    criteria += [
        {"criterion": f"claims the method needs labels (variant {i})", "weight": -1.0, "category": "negative"}
        for i in range(NEGATIVES)
    ]
    answer = "It trades bias for variance."
    return {"context": context, "question": question, "reference_answer": answer, "rubric": criteria,
            "question_type": "outcome prediction", "reasoning_skills": ["causal_reasoning", "design_tradeoff"]}


def default_judge_hits(answer: str, n: int) -> list[bool]:
    """A strong answer meets all positive criteria but one (6/7 = 0.86), any other answer two (2/7 = 0.29); no
    answer makes a listed error. Both pass every acceptance preset: weak above 0, strong below 0.95."""
    met = n - NEGATIVES - 1 if answer.startswith("strong") else 2 + weak_variant(answer)
    return [index < met for index in range(n)]


PASSING_REPORT: dict[str, Any] = {
    "leakage": "OK", "question_quality": "GOOD", "rubric": "PASS", "rubric_issues": [], "type_matches": True,
    "feedback": "",
}  # fmt: skip
PASSING_END_FILTER: dict[str, Any] = {
    "answer_leakage": False, "context_too_short": False, "rubric_malformed": False, "reasons": [],
}  # fmt: skip


def as_quality_reply(reply: dict[str, Any], tool: str | None) -> dict[str, Any]:
    """A script's short verdict ({"passed": bool, "reasons": [...]}) in the shape of the schema asked for: a failed
    one becomes a RECALL question (quality verifier) or a malformed rubric (end filter), with the reasons."""
    if "passed" not in reply or tool not in ("QualityReport", "EndFilterReport"):
        return reply
    reasons = list(reply.get("reasons", []))
    if tool == "QualityReport":
        failed = {"question_quality": "RECALL", "feedback": "; ".join(reasons)}
        return dict(PASSING_REPORT) if reply["passed"] else {**PASSING_REPORT, **failed}
    return dict(PASSING_END_FILTER) if reply["passed"] else {**PASSING_END_FILTER, "rubric_malformed": True,
                                                            "reasons": reasons}  # fmt: skip


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
    judge_hits: Callable[[str, int], list[bool]] = default_judge_hits
    quality: Callable[[str], dict[str, Any]] = lambda question: {"passed": True, "reasons": []}
    end_filter: Callable[[str], dict[str, Any]] = lambda text: {"passed": True, "reasons": []}
    orchestrator: str = "Ask about the interaction between two mechanisms instead."
    calls: dict[str, list[str]] = field(default_factory=dict)
    judged: dict[str, int] = field(default_factory=dict)

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = last_user_text(messages)
        if tool in LEGAL_TOOLS:  # the legal graph's structured calls (`--task legal`)
            return legal_tool_reply(tool, text)
        self.calls.setdefault(role, []).append("\n".join(str(m.content) for m in messages))
        if role == "challenger":
            index = min(len(self.calls[role]) - 1, len(self.items) - 1)
            item = self.items[index]
            if isinstance(item, Exception):
                raise item
            return item
        if role == "quality_verifier":
            verdict = self.end_filter(text) if tool == "EndFilterReport" else self.quality(text)
            return as_quality_reply(verdict, tool)
        if role in ("weak", "strong"):
            question = text.split("Question:")[-1].strip() if "Question:" in text else text
            return self.solver(role, question)
        if role == "judge":
            answer = text.split("<answer>")[1].split("</answer>")[0].strip()
            n = sum(1 for line in text.splitlines() if line[:1].isdigit() and ". " in line)
            if LEGAL_RUBRIC_MARK in text:  # a legal item: its weak samples must spread for the loop to accept it
                answer = varied(answer, self.judged, text.split("Question:")[-1].split("\n")[0])
            return {"verdicts": self.judge_hits(answer, n)}
        return self.orchestrator


def per_document_script(stall_on: str | None = None, stall=None):
    """A script whose answers depend only on the document (never on call order), so runs are reproducible
    across concurrency, crashes and resumes: the question names the paper; strong passes, weak fails.
    The science graph's structured calls (draft, screen, answer match) go to a ScienceScript."""
    base = GraphScript(items=[None])
    science = ScienceScript(
        draft=lambda rnd, i, prompt: science_draft(f"Variant {i} of: {prompt.split('Problem: ')[-1].splitlines()[0]}")
    )

    def script(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = last_user_text(messages)
        if tool in SCIENCE_TOOLS:
            return science(role, messages, tool)
        if tool in LEGAL_TOOLS:  # `--task legal` runs the legal graph
            return legal_tool_reply(tool, text)
        if role == "challenger":
            paper = text.split("Paper: ")[1].splitlines()[0] if "Paper: " in text else "the paper"
            return rubric_item(f"How does the method in {paper} handle case {paper[-1]} specifically under load?")
        if stall is not None and role == "strong" and stall_on in text:
            stall.entered.set()
            stall.release.wait(30)
        return base(role, messages, tool)

    return script

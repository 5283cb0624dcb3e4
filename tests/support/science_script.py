"""Scripts for the scripted chat model that drive the science graph: per-role behaviour as small functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from autodata.nodes.science.common import STRATEGIES
from autodata.state.schemas import SourceDocument
from tests.support.scripted import last_user_text

SCIENCE_TOOLS = ("ScienceItemDraft", "ScreenRanking", "AnswerMatch")


def science_draft(question: str, answer: str = "the Lorentz force", question_type: str = "identify the law") -> dict:
    return {"question_type": question_type, "reasoning_skills": ["causal_reasoning", "multi_step"],
            "question": question, "reference_answer": answer, "context": ""}


def make_problem(text: str = "Problem: A charge moves through a magnetic field. What force acts on it?\n"
                             "Answer: the Lorentz force", answer: str = "the Lorentz force",
                 path: str = "fixtures/problems.jsonl#L1", title: str = "Physics") -> SourceDocument:
    return SourceDocument(
        doc_id="problems-L1", path=path, title=title, text=text, content_hash=hashlib.sha256(text.encode()).hexdigest(),
        span=(0, len(text)), total_chars=len(text), reference_answer=answer,
    )  # fmt: skip


def _between(text: str, tag: str) -> str:
    return text.split(f"<{tag}>")[1].split(f"</{tag}>")[0].strip()


@dataclass
class ScienceScript:
    """`draft(round, index, prompt)` is challenger `index`'s item in `round`; `answer(role, question)` a solver's final
    answer; `judge(answer, reference)` the judge's verdict; `ranking(numbers)` the screen's order."""

    draft: Callable[[int, int, str], Any] = lambda rnd, i, prompt: science_draft(f"Round {rnd} question {i}?")
    answer: Callable[[str, str], str] = lambda role, question: "the Lorentz force" if role == "strong" else "gravity"
    judge: Callable[[str, str], bool] = lambda answer, reference: "lorentz" in answer.lower()
    ranking: Callable[[list[int]], list[int]] = lambda numbers: numbers
    diagnosis: str = "Weak samples guessed the named force; ask for a quantity that needs two laws combined."
    calls: dict[str, list[str]] = field(default_factory=dict)

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = last_user_text(messages)
        self.calls.setdefault(role, []).append(text)
        if role == "challenger":
            index = next(i for i, s in enumerate(STRATEGIES) if f"Your strategy: {s}" in text)
            rnd = int(re.search(r"round (\d+) of", text).group(1))
            return self.draft(rnd, index, text)
        if role in ("weak", "strong"):
            return f"Reasoning...\nFinal answer: {self.answer(role, text.strip())}"
        if role == "judge":
            equivalent = self.judge(_between(text, "answer"), _between(text, "reference_answer"))
            return {"equivalent": equivalent, "reason": "scripted"}
        if tool == "ScreenRanking":
            numbers = [int(n) for n in re.findall(r"^Candidate (\d+) \(", text, re.MULTILINE)]
            return {"ranking": [{"candidate": n, "reason": f"rank for {n}"} for n in self.ranking(numbers)]}
        return self.diagnosis

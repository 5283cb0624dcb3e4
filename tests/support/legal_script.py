"""Scripts for the scripted chat model that drive the legal graph down a chosen branch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from tests.support.scripted import last_user_text

CAPABILITIES = ("rule_identification", "exception_analysis", "remedy_selection")


def legal_item(question: str = "My landlord kept my whole $2,400 deposit after I moved out in May. Can he?",
               n: int = 16, negatives: int = 1) -> dict[str, Any]:  # fmt: skip
    """A well-formed item: n criteria over three capabilities, weights inside their classes."""
    classes = [("critical", 9.0), ("important", 6.0), ("minor", 3.0)]
    rubric = []
    for i in range(n - negatives):
        weight_class, weight = classes[i % 3]
        rubric.append({"criterion": f"Identifies point {i} of the deposit rule", "weight": weight,
                       "weight_class": weight_class, "capability": CAPABILITIES[i % 3]})  # fmt: skip
    for i in range(negatives):
        rubric.append({"criterion": f"Asserts that mistake {i} is the law", "weight": -5.0,
                       "weight_class": "negative", "capability": "exception_analysis"})  # fmt: skip
    return {
        "question": question,
        "rubric": rubric,
        "target_capabilities": {"primary": ["rule_identification", "exception_analysis"],
                                "secondary": ["remedy_selection"], "rewarded": "Applying the rule.",
                                "penalised": "Misstating the rule."},  # fmt: skip
    }


SUITABLE = {
    "suitable_for_synthetic_question": True, "suitability_reason": "States a transferable deposit rule.",
    "document_type": "appellate opinion", "topic_keywords": ["security deposit", "landlord", "damages"],
    "issues": ["May a landlord keep a deposit for ordinary wear?"], "facts": "A tenant sued a landlord.",
    "holdings": ["Ordinary wear is not damage, because the rent already pays for it."],
}  # fmt: skip
UNSUITABLE = {"suitable_for_synthetic_question": False, "suitability_reason": "A bare docket order."}


def judge(verdict: str = "accept", suggestion: str = "", suitability: str = "high") -> dict[str, Any]:
    return {
        "weak_pattern": "weak samples 0 and 2 missed the wear exception", "strong_pattern": "all strong applied it",
        "gap_interpretation": "fertile ground for RL", "rubric_concerns": "", "grpo_suitability": suitability,
        "verdict": verdict, "verdict_reason": f"{verdict} because of the spread", "suggestion_for_writer": suggestion,
    }  # fmt: skip


WEAK_VARIANTS = 2  # weak answers are judged as variants 0 and 1 in turn (see weak_variant)


def weak_variant(answer: str) -> int:
    """The variant number `LegalScript` appends to a weak answer it judges (' #k'), 0 when there is none."""
    return int(answer.rsplit("#", 1)[1]) if "#" in answer else 0


def spread_hits(answer: str, n: int) -> list[bool]:
    """Strong answers meet every positive criterion; weak answers meet the first half, variant 1 one fewer (so the
    weak samples spread, as GRPO needs); no mistakes made."""
    if answer.startswith("strong"):
        return [True] * (n - 1) + [False]
    met = n // 2 - weak_variant(answer)
    return [i < met for i in range(n - 1)] + [False]


def varied(answer: str, counter: dict[str, int], key: str = "") -> str:
    """A weak answer numbered by how many were judged before it for the same question (`key`), modulo
    WEAK_VARIANTS: any two consecutive judgings differ, so two or more weak samples always spread, and the set of
    scores does not depend on the order the samples run in."""
    if not answer.startswith("weak"):
        return answer
    count = counter.get(key, 0)
    counter[key] = count + 1
    return f"{answer} #{count % WEAK_VARIANTS}"


@dataclass
class LegalScript:
    """Per-role behaviour; `items` and `verdicts` are consumed one per round (the last one repeats)."""

    items: list[Any] = field(default_factory=lambda: [legal_item()])
    extract: dict[str, Any] = field(default_factory=lambda: dict(SUITABLE))
    verdicts: list[dict[str, Any]] = field(default_factory=lambda: [judge()])
    solver: Callable[[str, str], str] = lambda role, question: f"{role} answer"
    judge_hits: Callable[[str, int], list[bool]] = spread_hits
    calls: dict[str, list[str]] = field(default_factory=dict)
    judged: dict[str, int] = field(default_factory=dict)

    def _next(self, key: str, sequence: list[Any]) -> Any:
        index = min(len(self.calls[key]) - 1, len(sequence) - 1)
        value = sequence[index]
        if isinstance(value, Exception):
            raise value
        return value

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = last_user_text(messages)
        key = {"LegalExtract": "extractor", "LegalItem": "writer", "LoopJudgeVerdict": "loop_judge"}.get(tool, role)
        self.calls.setdefault(key, []).append("\n".join(str(m.content) for m in messages))
        if key == "extractor":
            return self.extract
        if key == "writer":
            return self._next(key, self.items)
        if key == "loop_judge":
            return self._next(key, self.verdicts)
        if role in ("weak", "strong"):
            return self.solver(role, text.split("Question:")[-1].strip())
        if role == "judge":
            answer = text.split("<answer>")[1].split("</answer>")[0].strip()
            n = sum(1 for line in text.splitlines() if line[:1].isdigit() and ". " in line)
            question = text.split("Question:")[-1].split("\n")[0]
            return {"verdicts": self.judge_hits(varied(answer, self.judged, question), n)}
        raise AssertionError(f"unexpected call: role {role}, tool {tool}")


LEGAL_TOOLS = ("LegalExtract", "LegalItem", "LoopJudgeVerdict")


def legal_tool_reply(tool: str, text: str) -> dict[str, Any]:
    """A well-behaved answer to each of the legal graph's structured calls, for scripts shared with other
    graphs: suitable, a well-formed item naming the document's first line, accepted."""
    if tool == "LegalExtract":
        return dict(SUITABLE)
    if tool == "LegalItem":
        title = text.split("Document: ")[1].splitlines()[0] if "Document: " in text else "a document"
        return legal_item(f"After reading {title}, my landlord kept my $900 deposit. Can he?")
    return judge("accept")

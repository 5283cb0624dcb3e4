"""Prompts laid out for prefix caching: for every role, a round-2 request starts with what its round-1
request started with: the static part (the instructions, and the document where the role reads it) comes
first, and only the per-round part (feedback, the candidate item, an answer) differs."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.state.schemas import SourceDocument
from tests.support.scripted import scripted_provider

POSITIVE, NEGATIVE = 7, 3
APPROVAL = {
    "passed": True, "reasons": [], "leakage": "OK", "question_quality": "GOOD", "rubric": "PASS",
    "rubric_issues": [], "type_matches": True, "feedback": "", "answer_leakage": False,
    "context_too_short": False, "rubric_malformed": False,
}  # fmt: skip
CONTEXT = " ".join(["The paper compares two regularisers trained together under one fixed budget."] * 4)
TEXT = "".join(f"Section {i}: the regulariser trades variance for bias in setting {i}. " for i in range(300))


class Rounds:
    """Round 1 ends "too easy" (the weak solver meets every criterion), round 2 is accepted; every request's
    messages are kept per role, in order."""

    def __init__(self) -> None:
        self.requests: dict[str, list[list[str]]] = {}
        self.challenges = 0

    def __call__(self, role, messages, tool):
        self.requests.setdefault(role, []).append([str(message.content) for message in messages])
        text = "\n".join(self.requests[role][-1])
        if role == "challenger":
            self.challenges += 1
            criteria = [{"criterion": f"explains {i}", "weight": 1, "category": "positive"} for i in range(POSITIVE)]
            criteria += [{"criterion": f"errs {i}", "weight": -1, "category": "negative"} for i in range(NEGATIVE)]
            return {"context": CONTEXT, "question": f"Why does the regulariser help here (take {self.challenges})?",
                    "reference_answer": "It trades variance for bias.", "rubric": criteria,
                    "question_type": "outcome prediction", "reasoning_skills": ["causal_reasoning", "tradeoff"]}  # fmt: skip
        if role == "judge":
            weak_meets_all = "take 1" in text
            hits = POSITIVE if weak_meets_all or "strong:" in text else 2
            return {"verdicts": [i < hits for i in range(POSITIVE)] + [False] * NEGATIVE}
        if tool is not None:
            return APPROVAL
        return f"{role}: it trades variance for bias." if role in ("weak", "strong") else "Ask something harder."


def common_prefix(first: str, second: str) -> int:
    n = 0
    for a, b in zip(first, second):
        if a != b:
            break
        n += 1
    return n


@pytest.fixture(scope="module")
def requests(tmp_path_factory) -> dict[str, list[list[str]]]:
    doc = SourceDocument(
        doc_id="paper", path="paper.md", title="Paper", text=TEXT,
        content_hash=hashlib.sha256(TEXT.encode()).hexdigest(), span=(0, len(TEXT)), total_chars=len(TEXT),
    )  # fmt: skip
    script = Rounds()
    provider = scripted_provider(script)
    options = GenerateOptions(task="cs-research", samples=2, max_rounds=2)
    run_dir = RunDirectory(tmp_path_factory.mktemp("prefix") / "run")
    stats = asyncio.run(Generator(options, provider, run_dir).run([doc]))
    assert stats.rounds == 2, stats.as_dict()
    return script.requests


@pytest.mark.parametrize("role", ["challenger", "quality_verifier", "weak", "judge", "orchestrator"])
def test_a_round_2_request_starts_with_its_round_1_static_part(requests, role):
    first, later = requests[role][0], requests[role][-1]
    assert first != later  # something per round differs
    assert first[0] == later[0], f"{role}: the instructions (first message) change between rounds"
    whole_first, whole_later = "\n".join(first), "\n".join(later)
    shared = common_prefix(whole_first, whole_later)
    if TEXT[-200:] in whole_first:  # a role that reads the document: all of it comes before what changes
        end_of_document = whole_first.index(TEXT[-200:]) + 200
        assert end_of_document <= shared, f"{role}: a per-round part comes before the end of the document"

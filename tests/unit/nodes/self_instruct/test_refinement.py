"""Refinement: the challenger sees every earlier question grouped by why it failed, the orchestrator sees the
round's evidence, and the per-round parts of the challenger's request come after the document."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import BaseMessage

from autodata.engine.corpus import iter_documents
from autodata.graphs.self_instruct import build_self_instruct, recursion_limit
from autodata.prompting.library import DOC_CLOSE
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.state.context import RunContext
from autodata.state.schemas import RoundOutcome
from autodata.state.self_instruct import SelfInstructState
from tests.support.graph_script import GraphScript, make_document
from tests.support.scripted import scripted_provider

GROUP_HEADINGS = ("TOO EASY", "FAILED ON STRONG", "FAILED QUALITY CHECK")
EASY_Q = "If the dropout rate doubled, what would happen to the weight norms (easy)?"
LEAKY_Q = "Under a fixed compute budget, which regulariser would you choose for a 10x wider layer (leaky)?"
GOOD_Q = "Under a fixed compute budget, which regulariser would you choose for a 10x wider layer?"
CONTEXT = (
    "Dropout regularises a network by zeroing hidden units at random during training. The paper studies how "
    "this interacts with layer width and with a fixed compute budget, where wider layers cost more per step and "
    "injected noise slows convergence."
)
ANSWER = "Choose dropout for the wider layer since its benefit grows with width while its cost stays fixed."
# Passes the quality verifier's four checks and the end-of-loop filter (extra keys are ignored by each schema).
PASSING_QV = {
    "passed": True, "reasons": [], "leakage": "OK", "question_quality": "GOOD", "rubric": "PASS",
    "rubric_issues": [], "type_matches": True, "feedback": "",
    "answer_leakage": False, "context_too_short": False, "rubric_malformed": False,
}  # fmt: skip


class Recorder:
    """Wraps a script and keeps every request's messages per role."""

    def __init__(self, script: Any) -> None:
        self.script, self.requests = script, {}

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        self.requests.setdefault(role, []).append(messages)
        return self.script(role, messages, tool)


async def run_graph(script: Any, max_rounds: int = 3, doc=None) -> SelfInstructState:
    provider = scripted_provider(script)
    graph = build_self_instruct(provider).compile()
    raw = await graph.ainvoke(
        {"document": doc or make_document()},
        context=RunContext(task="cs-research", max_rounds=max_rounds),
        config={"recursion_limit": recursion_limit(max_rounds)},
    )
    return SelfInstructState.model_validate(raw)


def research_item(question: str, question_type: str = "constraint-based design selection", context: str = CONTEXT) -> dict[str, Any]:
    """A rubric item as METHOD.md section 2 shapes it: 7 positive criteria (+1 each), 3 negative (-1 each)."""
    positives = [
        {"criterion": f"Links the regulariser's benefit to layer width, step {i}", "weight": 1, "category": "positive"}
        for i in range(7)
    ]
    negatives = [
        {"criterion": f"Claims the compute cost of dropout grows with width, variant {i}", "weight": -1,
         "category": "negative"}
        for i in range(3)
    ]  # fmt: skip
    return {
        "question_type": question_type,
        "reasoning_skills": ["design_tradeoff", "causal_reasoning"],
        "context": context,
        "question": question,
        "reference_answer": ANSWER,
        "scratchpad": "Insight: capacity and noise interact. Weak models ignore the budget.",
        "rubric": positives + negatives,
    }


def hits_in_answer(answer: str, n: int) -> list[bool]:
    """The scripted answers say how many criteria they meet ("hits=K"): the first K, all positive."""
    k = int(answer.rsplit("hits=", 1)[1].split()[0])
    return [index < k for index in range(n)]


def scripted(items: list[Any], weak_hits: int = 2, strong_hits: int = 6, easy_hits: int = 6, **kw: Any) -> GraphScript:
    """Default: weak 2/7 = 0.29, strong 6/7 = 0.86 (accepted); the weak model meets 6 of a question marked (easy)."""

    def solver(role: str, question: str) -> str:
        hits = strong_hits if role == "strong" else easy_hits if "(easy)" in question else weak_hits
        return f"{role} answer hits={hits}"

    return GraphScript(items=items, solver=solver, judge_hits=hits_in_answer, quality=lambda text: PASSING_QV, **kw)


def easy_then_leaky_then_good() -> GraphScript:
    items = [
        research_item(EASY_Q, "outcome prediction"),
        research_item(LEAKY_Q, context=f"{CONTEXT} {ANSWER}"),
        research_item(GOOD_Q),
    ]
    return scripted(items, orchestrator="Target the capacity insight; criteria 1-6 were met by the weak model.")


def group_sections(text: str) -> dict[str, str]:
    """The text under each group heading line of the refinement memory, up to the next heading."""
    pattern = re.compile(rf"^({'|'.join(GROUP_HEADINGS)})\b.*$", re.MULTILINE)
    marks = list(pattern.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {mark.group(1): text[mark.end() : end] for mark, end in zip(marks, ends)}


def user_text(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)


async def test_round_three_shows_rounds_one_and_two_verbatim_under_their_groups():
    recorder = Recorder(easy_then_leaky_then_good())
    state = await run_graph(recorder)
    assert [r.outcome for r in state.rounds[:2]] == [RoundOutcome.TOO_EASY, RoundOutcome.FAILED_QUALITY_CHECK]
    qv_reason = state.rounds[1].quality[0].reasons[0]
    assert "gives away the reference answer" in qv_reason
    sections = group_sections(user_text(recorder.requests["challenger"][2]))
    assert set(sections) == {"TOO EASY", "FAILED QUALITY CHECK"}  # only non-empty groups are shown
    assert EASY_Q in sections["TOO EASY"] and LEAKY_Q not in sections["TOO EASY"]
    assert "outcome prediction" in sections["TOO EASY"] and "weak avg 0.86" in sections["TOO EASY"]
    assert LEAKY_Q in sections["FAILED QUALITY CHECK"] and EASY_Q not in sections["FAILED QUALITY CHECK"]
    assert qv_reason in sections["FAILED QUALITY CHECK"]
    # Round 2 saw only round 1, and the orchestrator's instruction reached the challenger verbatim.
    second = user_text(recorder.requests["challenger"][1])
    assert set(group_sections(second)) == {"TOO EASY"} and LEAKY_Q not in second
    assert "Target the capacity insight; criteria 1-6 were met by the weak model." in second


async def test_failed_on_strong_group_carries_weak_strong_and_gap():
    recorder = Recorder(scripted([research_item("Which one wins?")], weak_hits=1, strong_hits=3))
    state = await run_graph(recorder, max_rounds=2)
    assert [r.outcome for r in state.rounds] == [RoundOutcome.FAILED_ON_STRONG] * 2
    section = group_sections(user_text(recorder.requests["challenger"][1]))["FAILED ON STRONG"]
    assert "Which one wins?" in section and "weak avg 0.14, strong avg 0.43, gap 0.29" in section


async def test_each_round_s_request_starts_with_the_first_one_minus_its_per_round_tail():
    recorder = Recorder(easy_then_leaky_then_good())
    await run_graph(recorder)
    first, *later = recorder.requests["challenger"]
    first_user = user_text(first)
    static_end = first_user.index(DOC_CLOSE) + len(DOC_CLOSE)
    assert make_document().text in first_user[:static_end]
    tail = first_user[static_end:].strip()
    assert "round 1 of 3" in tail and len(tail.splitlines()) == 1  # round 1's only per-round part
    assert len(later) == 2
    for request in later:
        assert [m.content for m in request[:-1]] == [m.content for m in first[:-1]]  # the system prompt
        assert user_text(request).startswith(first_user[:static_end])


async def test_orchestrator_sees_item_scores_quality_report_and_per_criterion_hits():
    recorder = Recorder(scripted([research_item("Which design wins?")], weak_hits=1, strong_hits=3))
    state = await run_graph(recorder, max_rounds=1)
    record = state.rounds[0]
    assert record.outcome is RoundOutcome.FAILED_ON_STRONG
    k_weak = len([a for a in record.attempts if a.role == "weak"])
    k_strong = len([a for a in record.attempts if a.role == "strong"])
    (request,) = recorder.requests["orchestrator"]
    text = user_text(request)
    assert "<question>Which design wins?</question>" in text and "design selection" in text
    assert "initial check: passed" in text
    assert f"weak: {', '.join(['0.14'] * k_weak)} (avg 0.14)" in text
    assert f"strong: {', '.join(['0.43'] * k_strong)} (avg 0.43)" in text
    every_weak = f"{k_weak}/{k_weak} (samples {', '.join(str(i + 1) for i in range(k_weak))})"
    every_strong = f"{k_strong}/{k_strong} (samples {', '.join(str(i + 1) for i in range(k_strong))})"
    lines = {line.split(".", 1)[0]: line for line in text.splitlines() if re.match(r"^\d+\. \[", line)}
    assert len(lines) == 10
    assert lines["1"].endswith(f"| weak {every_weak} | strong {every_strong}")
    assert lines["3"].endswith(f"| weak 0/{k_weak} | strong {every_strong}")
    assert lines["4"].endswith(f"| weak 0/{k_weak} | strong 0/{k_strong}")
    assert "[-1, negative] Claims the compute cost of dropout grows with width" in lines["8"]


async def test_scratchpad_type_and_skills_land_in_the_trajectory_and_the_item_row(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("# Paper A\n\nDropout zeroes activations at random during training.")
    provider = scripted_provider(scripted([research_item(GOOD_Q)]))
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", max_rounds=1), provider, run_dir)
    await generator.run(iter_documents(src, max_chars=2000))
    (trajectory,) = run_dir.trajectories()
    assert trajectory["status"] == "accepted", trajectory["rounds"][-1]
    recorded = trajectory["rounds"][0]["item"]
    assert recorded["scratchpad"].startswith("Insight: capacity and noise interact.")
    assert recorded["question_type"] == "constraint-based design selection"
    assert recorded["reasoning_skills"] == ["design_tradeoff", "causal_reasoning"]
    (item,) = run_dir.items()
    assert item["question_type"] == "constraint-based design selection"
    assert item["reasoning_skills"] == ["design_tradeoff", "causal_reasoning"]

"""The science graph (METHOD.md §4), driven by scripted chat models: fan-out, screen, exact counts,
judge fallback, format rules, diagnosis, endpoint retries and grounding examples."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from autodata.graphs.science import build_science, recursion_limit
from autodata.llm.models import ModelCallFailed
from autodata.llm.openai_compat import TransientEndpointError
from autodata.state.schemas import RoundOutcome
from autodata.state.science import ScienceContext, ScienceState
from tests.support.science_script import ScienceScript, make_problem, science_draft
from tests.support.scripted import scripted_provider


async def run_science(script: ScienceScript, doc=None, provider=None, **context) -> ScienceState:
    ctx = ScienceContext(**{"max_rounds": 1, **context})
    graph = build_science(provider or scripted_provider(script)).compile()
    raw = await graph.ainvoke(
        {"document": doc or make_problem()}, context=ctx, config={"recursion_limit": recursion_limit(ctx.max_rounds)}
    )
    return ScienceState.model_validate(raw)


def questions_asked(script: ScienceScript, role: str) -> Counter:
    return Counter(prompt.strip().splitlines()[-1] for prompt in script.calls.get(role, []))


class CorrectCounts:
    """Solver answers with exactly `weak` and `strong` correct samples per question (k = 4)."""

    def __init__(self, weak: int, strong: int) -> None:
        self.correct = {"weak": weak, "strong": strong}
        self.seen: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, role: str, question: str) -> str:
        with self.lock:
            self.seen[(role, question)] += 1
            n = self.seen[(role, question)]
        return "the Lorentz force" if n <= self.correct[role] else "the Coriolis force"


async def test_a_round_fans_out_the_configured_challengers_and_evaluates_only_the_screened_ones():
    script = ScienceScript(ranking=lambda numbers: list(reversed(numbers)))
    state = await run_science(script, candidates=5, evaluate_top=2)
    assert len(script.calls["challenger"]) == 5
    # Every challenger got its own strategy.
    assert len({prompt.split("Your strategy: ")[1].splitlines()[0] for prompt in script.calls["challenger"]}) == 5
    record = state.rounds[0]
    statuses = {c.index: c.status for c in record.candidates}
    assert statuses == {4: "selected", 3: "selected", 2: "screened_out", 1: "screened_out", 0: "screened_out"}
    # Only the two screened-in questions reached the solvers, k samples each per role.
    assert questions_asked(script, "weak") == {"Round 1 question 4?": 4, "Round 1 question 3?": 4}
    assert questions_asked(script, "strong") == {"Round 1 question 4?": 4, "Round 1 question 3?": 4}
    screened_out = next(c for c in record.candidates if c.index == 0)
    assert screened_out.reasons == ["screen: ranked 5 of 5: rank for 1"]
    assert {r.candidate for r in record.results} == {3, 4}


async def test_weak_two_of_four_correct_is_too_easy():
    state = await run_science(ScienceScript(answer=CorrectCounts(weak=2, strong=4)), evaluate_top=1)
    assert state.status == "exhausted"
    result = state.rounds[0].results[0]
    assert (result.weak_correct, result.strong_correct) == (2, 4)
    assert result.outcome is RoundOutcome.TOO_EASY


async def test_weak_one_and_strong_three_of_four_is_accepted():
    state = await run_science(ScienceScript(answer=CorrectCounts(weak=1, strong=3)), evaluate_top=1)
    assert state.status == "accepted"
    result = state.rounds[0].results[0]
    assert (result.weak_correct, result.strong_correct) == (1, 3)
    assert state.rounds[0].outcome is RoundOutcome.ACCEPTED
    assert state.accepted.question_type == "identify the law"
    assert (state.rounds[0].weak_avg, state.rounds[0].strong_avg) == (0.25, 0.75)


async def test_strong_two_of_four_fails_on_strong():
    state = await run_science(ScienceScript(answer=CorrectCounts(weak=0, strong=2)), evaluate_top=1)
    assert state.rounds[0].results[0].outcome is RoundOutcome.FAILED_ON_STRONG


async def test_the_judge_decides_only_answers_math_verify_cannot_and_its_decision_is_stored_per_sample():
    # Candidate 1's reference is a fraction (math-verify decides), candidate 2's a phrase (the judge decides).
    def draft(rnd: int, index: int, prompt: str) -> dict:
        return science_draft(f"Fraction question {index}?", "\\frac{3}{8}") if index == 0 else \
            science_draft(f"Phrase question {index}?", "Lorentz force law")

    def answer(role: str, question: str) -> str:
        if "Fraction" in question:
            return "0.375" if role == "strong" else "3/4"
        return "the Lorentz force" if role == "strong" else "gravity"

    judged: list[tuple[str, str]] = []

    def judge(answer_: str, reference: str) -> bool:
        judged.append((answer_, reference))
        return answer_ != "gravity"  # would wrongly pass the weak "3/4" if it were ever asked about it

    state = await run_science(ScienceScript(draft=draft, answer=answer, judge=judge), evaluate_top=2)
    checks = state.rounds[0].checks
    by_candidate = {i: {c.decided_by for c in checks if c.candidate == i} for i in (0, 1)}
    assert by_candidate == {0: {"math_verify"}, 1: {"judge"}}
    assert all(reference == "Lorentz force law" for _, reference in judged) and len(judged) == 8
    assert sorted(r.weak_correct for r in state.rounds[0].results) == [0, 0]
    assert sorted(r.strong_correct for r in state.rounds[0].results) == [4, 4]


async def test_a_bare_integer_answer_is_rejected_with_its_reason_and_never_evaluated():
    def draft(rnd: int, index: int, prompt: str) -> dict:
        return science_draft("How many forces act?", "42") if index == 0 else science_draft(f"Question {index}?")

    script = ScienceScript(draft=draft)
    state = await run_science(script, evaluate_top=3)
    rejected = next(c for c in state.rounds[0].candidates if c.index == 0)
    assert rejected.status == "format_rejected"
    assert any("bare integer" in reason for reason in rejected.reasons)
    assert "How many forces act?" not in questions_asked(script, "weak")


async def test_a_bare_integer_answer_is_rejected_even_when_the_seed_answer_is_one():
    seed = make_problem("Problem: How many moons does Mars have?\nAnswer: 2", answer="2")
    script = ScienceScript(draft=lambda rnd, i, prompt: science_draft(f"Question {i}?", "12"),
                           answer=lambda role, q: "12" if role == "strong" else "11")
    received: list[str] = []

    def recording(role, messages, tool):
        if role == "challenger":
            received.append("\n".join(str(m.content) for m in messages))
        return script(role, messages, tool)

    state = await run_science(script, doc=seed, evaluate_top=1, provider=scripted_provider(recording))
    assert state.status == "exhausted" and "weak" not in script.calls  # nothing reached the solvers
    assert {c.status for c in state.rounds[0].candidates} == {"format_rejected"}
    rejected = state.rounds[0].candidates
    assert all(any("bare integer" in r and "rewrite the problem" in r for r in c.reasons) for c in rejected)
    # What each challenger was told: rewrite such a problem so the answer is an expression, exact form or phrase.
    assert len(received) == 4
    for prompt in received:
        assert "even when the seed problem's own answer is one" in prompt and "exact form" in prompt
        assert "Use one only if the seed" not in prompt


async def test_a_bare_integer_answer_is_kept_and_flagged_only_when_the_run_allows_it():
    script = ScienceScript(draft=lambda rnd, i, prompt: science_draft(f"Question {i}?", "12"),
                           answer=lambda role, q: "12" if role == "strong" else "11")
    state = await run_science(script, evaluate_top=1, allow_numeric_answers=True)
    assert state.status == "accepted"
    assert state.accepted.format_flags == ["bare integer answer allowed: the run sets allow_numeric_answers"]


async def test_round_two_challengers_receive_the_diagnosis_verbatim():
    script = ScienceScript(answer=lambda role, question: "the Lorentz force")  # weak always right: too easy
    state = await run_science(script, max_rounds=2)
    assert [r.outcome for r in state.rounds] == [RoundOutcome.TOO_EASY] * 2
    assert state.rounds[0].diagnosis == script.diagnosis
    first, second = script.calls["challenger"][:4], script.calls["challenger"][4:]
    assert len(second) == 4
    assert all(script.diagnosis not in prompt for prompt in first)
    assert all(script.diagnosis in prompt for prompt in second)
    # The diagnosis read the samples of the evaluated candidates.
    assert "[weak sample, correct] final answer: the Lorentz force" in script.calls["orchestrator"][1]


def retrying_provider(script: ScienceScript):
    """Transport faults retried once by the model layer, without waiting."""
    provider = scripted_provider(script, transport_initial_wait=0.0)
    roles = {role: cfg.model_copy(update={"max_retries": 1}) for role, cfg in provider.settings.roles.items()}
    provider.settings = provider.settings.model_copy(update={"roles": roles})
    return provider


async def test_an_endpoint_failure_is_retried_by_the_model_layer_and_a_dead_endpoint_stops_the_document():
    failures = Counter()
    lock = threading.Lock()

    def answer(role: str, question: str) -> str:
        with lock:
            failures[role] += 1
            first = failures[role] == 1
        if role == "weak" and first:
            raise TransientEndpointError("connection reset")  # once: retried by the model layer, then answered
        return "the Lorentz force" if role == "strong" else "gravity"

    script = ScienceScript(answer=answer)
    state = await run_science(script, provider=retrying_provider(script), evaluate_top=1)
    record = state.rounds[0]
    assert len([a for a in record.attempts if a.role == "weak"]) == 4 and all(a.error is None for a in record.attempts)
    assert state.usage["weak"].calls == 5  # 4 samples, one of them tried twice
    assert state.status == "accepted"

    def strong_down(role: str, question: str) -> str:
        if role == "strong":
            raise TransientEndpointError("connection refused")  # every try: not a property of the question
        return "gravity"

    script = ScienceScript(answer=strong_down)
    # Not scored, not a round verdict: the document stops (the runner records it failed; the next run resumes).
    with pytest.raises(ModelCallFailed) as stopped:
        await run_science(script, provider=retrying_provider(script), evaluate_top=1)
    assert stopped.value.role == "strong"
    assert "judge" not in script.calls  # no sample of the candidate was checked


async def test_challengers_are_grounded_in_other_rows_of_the_seed_file(tmp_path):
    rows = [{"question": f"Problem number {i}?", "answer": f"x^{i}", "dataset": "Physics"} for i in range(6)]
    rows[4]["dataset"] = "Other"
    source = tmp_path / "problems.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seed = make_problem(path=f"{source}#L2", title="Physics")
    script = ScienceScript()
    state = await run_science(script, doc=seed, grounding_examples=3)
    assert [g.splitlines()[0] for g in state.grounding] == [
        "Problem: Problem number 2?", "Problem: Problem number 3?", "Problem: Problem number 5?"
    ]
    assert all("Problem number 3?" in prompt and "Problem number 1?" not in prompt for prompt in script.calls["challenger"])

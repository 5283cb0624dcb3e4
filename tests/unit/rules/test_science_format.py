"""Pure rules of the science task: what the answer checker decides, the judge fallback, exact counts, answer shapes,
grounding rows."""

from __future__ import annotations

import json

import pytest

from autodata.rules.grounding import grounding_rows
from autodata.llm.models import ModelCallFailed
from autodata.prompting.library import PromptLibrary
from autodata.rules.science_format import answer_shape, science_format_check
from autodata.rules.answers import Outcome, compare_answers
from autodata.rules.scoring import check_final_answer, count_outcome
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import CandidateItem, RoundOutcome
from tests.support.scripted import scripted_provider


@pytest.mark.parametrize(
    ("answer", "reference", "correct"),
    [("0.375", "\\frac{3}{8}", True), ("\\frac{\\sqrt 2}{2}", "\\sqrt{2}/2", True), ("3/4", "\\frac{3}{8}", False),
     ("3.0 m/s", "3 m/s", True), ("4 m/s", "3 m/s", False), ("-41", "-41.0", True)],
)  # fmt: skip
def test_math_verify_decides_expressions_and_quantities_in_the_same_units(answer, reference, correct):
    verdict = compare_answers(answer, reference)
    assert (verdict.correct, verdict.decided_by) == (correct, "math_verify")


@pytest.mark.parametrize(
    ("answer", "reference"),
    [("the Lorentz force", "Lorentz force law"), ("3/8", "3/8 m"), ("3000 m", "3 km"), ("5 mN", "5 MN"), ("NaCl", "salt")],
)  # fmt: skip
def test_phrases_and_different_units_are_left_undecided_for_the_judge(answer, reference):
    assert compare_answers(answer, reference).outcome is Outcome.UNDECIDED


async def test_check_final_answer_asks_the_judge_only_where_math_verify_cannot_decide():
    asked: list[str] = []

    def script(role, messages, tool):
        asked.append(str(messages[-1].content))
        return {"equivalent": True, "reason": "same law"}

    provider, prompts = scripted_provider(script), PromptLibrary()

    async def check(answer: str, reference: str):
        return await check_final_answer(provider, prompts, question="Q?", answer=answer, reference=reference)

    wrong_fraction = await check("3/4", "\\frac{3}{8}")
    assert (wrong_fraction.correct, wrong_fraction.decided_by) == (False, "math_verify")
    assert (await check("The Lorentz force law.", "lorentz force law")).decided_by == "exact_match"
    assert (await check("-1", "1")).correct is False  # a sign is never normalised away
    assert (await check("(2, 12)", "[2, 12]")).decided_by == "math_verify"
    assert (await check("", "1/2")).decided_by == "no_answer"
    assert not asked
    phrase = await check("the Lorentz force", "Lorentz force law")
    assert (phrase.correct, phrase.decided_by, phrase.reason) == (True, "judge", "same law")
    assert phrase.usage.calls == 1 and len(asked) == 1 and "<reference_answer>Lorentz force law" in asked[0]


async def test_a_judge_endpoint_failure_is_handed_back_to_raise_and_a_malformed_verdict_is_unscored():
    def down(role, messages, tool):
        raise ConnectionError("judge endpoint down")

    verdict = await check_final_answer(
        scripted_provider(down, max_retries=0), PromptLibrary(), question="Q?", answer="x", reference="a phrase"
    )
    # Not a verdict on the answer: the node raises it, and the document is retried from its checkpoint.
    assert verdict.correct is None and isinstance(verdict.failure, ModelCallFailed)

    def garbled(role, messages, tool):
        return "not a verdict"

    verdict = await check_final_answer(
        scripted_provider(garbled, parse_retries=0), PromptLibrary(), question="Q?", answer="x", reference="a phrase"
    )
    assert verdict.correct is None and verdict.decided_by == "unscored" and "judge" in verdict.reason
    assert verdict.failure is None


@pytest.mark.parametrize(
    ("weak", "strong", "outcome"),
    [(1, 3, RoundOutcome.ACCEPTED), (0, 4, RoundOutcome.ACCEPTED), (2, 4, RoundOutcome.TOO_EASY),
     (1, 2, RoundOutcome.FAILED_ON_STRONG), (2, 2, RoundOutcome.TOO_EASY)],
)  # fmt: skip
def test_exact_counts_with_four_samples(weak, strong, outcome):
    assert count_outcome(weak, 4, strong, 4, AcceptancePolicy()) is outcome


def test_fractions_for_other_sample_counts():
    policy = AcceptancePolicy()
    assert count_outcome(2, 8, 6, 8, policy) is RoundOutcome.ACCEPTED
    assert count_outcome(3, 8, 6, 8, policy) is RoundOutcome.TOO_EASY
    assert count_outcome(0, 3, 3, 3, policy) is RoundOutcome.ACCEPTED  # at most 0.75 weak, at least 2.25 strong
    assert count_outcome(1, 3, 3, 3, policy) is RoundOutcome.TOO_EASY
    assert count_outcome(0, 3, 2, 3, policy) is RoundOutcome.FAILED_ON_STRONG


@pytest.mark.parametrize(
    ("answer", "shape"),
    [("42", "bare_integer"), ("$-1,200$.", "bare_integer"), ("\\boxed{7}", "bare_integer"), ("x = 3", "bare_integer"),
     ("0.02828", "precise_decimal"), ("9.81 m/s^2", "precise_decimal"), ("0.5", None), ("\\frac{3}{8}", None),
     ("the Lorentz force", None), ("8 \\pi", None)],
)  # fmt: skip
def test_answer_shapes(answer, shape):
    assert answer_shape(answer) == shape


LABELS = {"question_type": "limiting case", "reasoning_skills": ["limit_analysis", "dimensional_analysis"]}


def science_item(question: str, answer: str, **labels: object) -> CandidateItem:
    return CandidateItem(question=question, reference_answer=answer, **{**LABELS, **labels})


def test_format_check_rejects_two_questions_and_guessable_answers_with_reasons():
    item = science_item("What is the force? And its direction?", "42")
    problems, flags = science_format_check(item, AcceptancePolicy())
    assert "asks more than one thing" in problems
    assert any(p.startswith("the answer is a bare integer") and "rewrite the problem" in p for p in problems)
    assert flags == []


@pytest.mark.parametrize("answer", ["42", "9.81", "\\boxed{12}"])
def test_a_bare_integer_or_precise_decimal_is_rejected_unless_the_run_allows_it(answer):
    item = science_item("What is g near the surface, given the data?", answer)
    problems, flags = science_format_check(item, AcceptancePolicy())
    assert len(problems) == 1 and "rewrite the problem" in problems[0] and flags == []
    problems, flags = science_format_check(item, AcceptancePolicy(), allow_numeric_answers=True)
    assert problems == [] and len(flags) == 1 and flags[0].endswith("allowed: the run sets allow_numeric_answers")


@pytest.mark.parametrize(
    ("labels", "rule_text"),
    [({"question_type": "a tricky one"}, "is not one of the listed types"),
     ({"reasoning_skills": ["limit analysis", "algebra"]}, "single snake_case tags"),
     ({"reasoning_skills": ["algebra"]}, "it needs 2-3"),
     ({"reasoning_skills": ["a_b", "c_d", "e_f", "g_h"]}, "it needs 2-3")],
)  # fmt: skip
def test_labels_must_have_the_shapes_the_prompt_promises(labels, rule_text):
    item = science_item("What is the limiting speed as the mass grows without bound?", "c", **labels)
    problems, _ = science_format_check(item, AcceptancePolicy())
    assert any(rule_text in problem for problem in problems), problems
    assert science_format_check(science_item("What is the limiting speed?", "c", question_type="Limiting-Case"),
                                AcceptancePolicy())[0] == []  # case and hyphens do not matter


def test_format_check_rejects_a_question_that_states_its_answer_but_not_short_numbers_in_the_data():
    policy = AcceptancePolicy()
    leaky = science_item("Given x^2 + 1974038265, what is x^2 + 1974038265?", "x^2 + 1974038265")
    assert "the question states the reference answer" in science_format_check(leaky, policy)[0]
    named = science_item("Why is the Lorentz force perpendicular here?", "the Lorentz force")
    assert "the question states the reference answer" in science_format_check(named, policy)[0]
    data = science_item("A cart of 2 kg moves at 3 m/s. What is its kinetic energy in joules, symbolically?", "9 J")
    assert science_format_check(data, policy)[0] == []


def test_grounding_rows_prefer_the_seed_dataset_and_skip_bad_rows(tmp_path):
    source = tmp_path / "p.jsonl"
    lines = [json.dumps({"question": "Q1", "answer": "1", "dataset": "A"}), "{not json",
             json.dumps({"question": "Q3", "answer": "3", "dataset": "B"}),
             json.dumps({"question": "Q4", "answer": "4", "dataset": "A"}), ""]  # fmt: skip
    source.write_text("\n".join(lines))
    # No other row of dataset B: rows after the seed first, then from the start.
    assert grounding_rows(f"{source}#L3", "B", 2) == ["Problem: Q4\nAnswer: 4", "Problem: Q1\nAnswer: 1"]
    assert grounding_rows(f"{source}#L4", "A", 5) == ["Problem: Q1\nAnswer: 1", "Problem: Q3\nAnswer: 3"]
    assert grounding_rows(str(tmp_path / "paper.md"), "A", 3) == []
    assert grounding_rows(f"{tmp_path / 'missing.jsonl'}#L1", "A", 3) == []

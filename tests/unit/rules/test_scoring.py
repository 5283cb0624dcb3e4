"""Pure scoring and format rules: rubric scores, equivalence, majority vote, answer extraction, leaks."""

import pytest

from autodata.rules.format_rules import answer_leaks_into, format_violations
from autodata.rules.scoring import (
    equivalent,
    extract_final_answer,
    majority_answer,
    rubric_score,
    strong_check_passes,
    weak_check_passes,
)
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import (
    AttemptScore,
    CandidateItem,
    RubricCriterion,
    TaskFamily,
)


def criteria(*weights: float) -> list[RubricCriterion]:
    return [RubricCriterion(criterion=f"c{i}", weight=w) for i, w in enumerate(weights)]


def test_rubric_score_with_negative_weights():
    rubric = criteria(3, 2, 1, -2)
    assert rubric_score(rubric, [True, True, True, False]) == 1.0
    assert rubric_score(rubric, [True, False, False, False]) == pytest.approx(0.5)
    # The mistake (negative criterion) is present: 3 + 2 - 2 = 3 of 6 positive weight.
    assert rubric_score(rubric, [True, True, False, True]) == pytest.approx(0.5)
    # Clipped at 0 when mistakes outweigh content.
    assert rubric_score(rubric, [False, False, False, True]) == 0.0
    assert rubric_score(criteria(-1), [True]) == 0.0


def test_rubric_score_rejects_a_verdict_count_mismatch():
    with pytest.raises(ValueError):
        rubric_score(criteria(1, 1), [True])


@pytest.mark.parametrize("answer", ["1/2", "0.5", "\\frac{1}{2}", "$\\frac{1}{2}$", " 0.50 "])
def test_equivalent_forms_of_one_half(answer):
    assert equivalent(answer, "1/2")
    assert equivalent(answer, "\\frac{1}{2}")


@pytest.mark.parametrize(("answer", "reference"), [("0.25", "1/2"), ("", "1"), ("3", ""), ("Paris", "London")])
def test_non_equivalent_answers(answer, reference):
    assert not equivalent(answer, reference)


def test_text_answers_use_normalised_match():
    assert equivalent("The Mitochondria.", "mitochondria")
    assert equivalent("an electron", "Electron")
    assert not equivalent("the proton", "electron")


@pytest.mark.parametrize(
    ("answer", "reference"),
    [("-1", "1"), ("-1/2", "1/2"), ("(2,12)", "[2,12]"), ("(2, 12)", "[2, 12]"), ("[0,1)", "[0,1]"),
     ("-1 m", "1 m"), ("(2, 12) cm", "[2, 12] cm")],
)  # fmt: skip
def test_a_normalised_match_never_drops_signs_or_brackets(answer, reference):
    # The normalised match used to run before math-verify and made these equal.
    assert not equivalent(answer, reference)


def test_math_verify_decides_expressions_and_the_normalised_match_only_phrases():
    assert equivalent("(2, 12)", "(2,12)") and equivalent("x = 3", "3") and equivalent("2", "2.0")
    assert equivalent("Navier-Stokes equations", "navier stokes equations")  # a hyphen in a word is no sign
    assert equivalent("H2O", "H_2O") and not equivalent("H2O", "h2o")  # case is meaning in a formula
    assert not equivalent("dog", "god")  # never a product of letters


def test_majority_vote_groups_equivalent_forms():
    answer, count = majority_answer(["1/2", "0.5", "\\frac{1}{2}", "3"])
    assert count == 3 and equivalent(answer, "1/2")
    assert majority_answer(["", "  "]) == (None, 0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Let me think.\nFinal answer: 42.", "42"),
        ("First final answer: 1\nthen Final Answer: 2", "2"),
        ("so the result is \\boxed{\\frac{3}{4}} indeed", "\\frac{3}{4}"),
        ("  17  \n", "17"),
        # No marker, box or one-line reply: what math-verify's own extraction finds (the last expression).
        ("10 - 4 = 6 apples left\n10-4", "10-4"),
        ("", ""),
    ],
)
def test_extract_final_answer(reply, expected):
    assert extract_final_answer(reply) == expected


def scores(role, *values):
    return [AttemptScore(round=1, role=role, sample_index=i, score=v) for i, v in enumerate(values)]


def test_policy_thresholds_for_rubric_tasks():
    policy = AcceptancePolicy(preset="prose")
    assert weak_check_passes(scores("weak", 0.4, 0.5), TaskFamily.RUBRIC, policy)  # avg 0.45 < 0.5
    assert not weak_check_passes(scores("weak", 0.5, 0.5), TaskFamily.RUBRIC, policy)
    weak = scores("weak", 0.45)
    assert strong_check_passes(weak, scores("strong", 0.65), TaskFamily.RUBRIC, policy)  # gap exactly 0.20
    assert not strong_check_passes(weak, scores("strong", 0.6), TaskFamily.RUBRIC, policy)
    assert not strong_check_passes(scores("weak", 0.49), scores("strong", 0.66), TaskFamily.RUBRIC, policy)


def test_policy_thresholds_for_verifiable_tasks():
    policy = AcceptancePolicy()
    assert weak_check_passes(scores("weak", 1, 0, 0, 0), TaskFamily.VERIFIABLE, policy)
    assert not weak_check_passes(scores("weak", 1, 1, 0, 0), TaskFamily.VERIFIABLE, policy)
    assert strong_check_passes([], scores("strong", 1, 1, 1, 0), TaskFamily.VERIFIABLE, policy)
    assert not strong_check_passes([], scores("strong", 1, 1, 0, 0), TaskFamily.VERIFIABLE, policy)


def test_format_rules():
    policy = AcceptancePolicy()
    good = CandidateItem(
        context="Two schedulers are compared under load.", question="Which scheduler degrades more gracefully?",
        reference_answer="The work-stealing scheduler, because idle workers take queued tasks.",
        rubric=criteria(*([1] * 7 + [-1] * 3)),
    )  # fmt: skip
    assert format_violations(good, TaskFamily.RUBRIC, policy) == []
    multi = good.model_copy(update={"question": "Which is faster? And why?"})
    assert "asks more than one thing" in format_violations(multi, TaskFamily.RUBRIC, policy)
    long_answer = good.model_copy(update={"reference_answer": "It is A. It is also B. And C."})
    # One sentence is a rule of verifiable answers only (METHOD.md section 4); a rubric item's answer may run longer.
    assert "reference answer is not a single sentence" not in format_violations(long_answer, TaskFamily.RUBRIC, policy)
    assert "reference answer is not a single sentence" in format_violations(long_answer, TaskFamily.VERIFIABLE, policy)
    few = good.model_copy(update={"rubric": criteria(1, 1)})
    assert any("rubric has 2 criteria" in p for p in format_violations(few, TaskFamily.RUBRIC, policy))
    assert format_violations(few, TaskFamily.VERIFIABLE, policy) == []


def test_answer_leak_detection():
    assert answer_leaks_into("42", "The total is 42 apples.")
    assert answer_leaks_into("It trades bias for variance.", "Recall: it trades bias for variance here.")
    assert not answer_leaks_into("It trades bias for variance.", "Dropout is a regulariser.")
    assert not answer_leaks_into("4", "There are 42 apples.")

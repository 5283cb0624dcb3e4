"""The answer checker: extraction of the final answer in the forms models write, and a comparison with no
false positives (units with prefixes, chemical formulas, matrix shapes, case) that says undecided rather
than guess."""

from __future__ import annotations

import pytest

from autodata.rules.answers import Outcome, check_answer, compare_answers, extract_final_answer


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
        ("Working...\nFinal answer: **5**", "5"),
        ("The answer is 7.", "7"),
        ("The parts are \\boxed{1}, \\boxed{2} and \\boxed{3}.", "1, 2, 3"),
        ("So \\boxed{004}.\nCheck: yes.\n**Final Answer**\n\\boxed{004}", "004"),  # a restated box counts once
        ("First \\boxed{12}, then more work.\nFinal answer: 15", "15"),  # a final line after the boxes wins
        ("Final answer: The volume of $ABCD$ is 120.", "120"),
        ("The answer is (C).", "(C)"),
        ("A one-line answer that is longer than forty characters but still only the answer", None),
        ("", ""),
    ],
)  # fmt: skip
def test_extraction_finds_the_answer_in_the_forms_models_write(reply, expected):
    assert extract_final_answer(reply) == (reply.strip() if expected is None else expected)


@pytest.mark.parametrize(
    ("reply", "reference"),
    [("Final answer: 28 percent", "28\\%"), ("$\\text{odd}$", "odd"), ("The answer is \\text{(C)}.", "C"),
     ("H_2O", "H2O"), ("$10^8$", "10^{8}"), ("1e3", "1000"), ("The answer is B.", "B"),
     ("\\boxed{1}, \\boxed{2}, \\boxed{3}", "\\{1,2,3\\}"), ("1 000", "1000"), ("Final answer: **5**", "5"),
     ("We get $x \\geq 5$ in the end.", "x >= 5"), ("The Mitochondria.", "mitochondria")],
)  # fmt: skip
def test_answers_written_differently_are_correct(reply, reference):
    assert check_answer(reply, reference).outcome is Outcome.CORRECT


@pytest.mark.parametrize(
    ("answer", "reference"), [("5 MN", "5 mN"), ("5 Mmol", "5 mmol"), ("5 m", "5 s"), ("3000 m", "3 km"), ("2 kPa", "2 Pa")]
)  # fmt: skip
def test_units_are_compared_with_their_prefixes_and_case(answer, reference):
    # math-verify alone reads both as the bare number; the checker leaves them to the judge.
    assert compare_answers(answer, reference).outcome is Outcome.UNDECIDED


@pytest.mark.parametrize(("answer", "reference"), [("C6H6O12", "C6H12O6"), ("C3H4", "C2H6"), ("CO2", "CO")])
def test_chemical_formulas_are_compared_as_formulas_not_products(answer, reference):
    verdict = compare_answers(answer, reference)
    assert (verdict.outcome, verdict.decided_by) == (Outcome.WRONG, "formula")


def test_formulas_with_the_same_atoms_in_another_order_or_case_are_not_credited():
    assert compare_answers("C2H5OH", "C2H6O").outcome is Outcome.UNDECIDED  # ethanol or dimethyl ether
    assert compare_answers("Ca(OH)_2", "Ca(OH)2").outcome is Outcome.CORRECT
    assert compare_answers("co", "CO").outcome is not Outcome.CORRECT
    assert compare_answers("Co", "CO").outcome is not Outcome.CORRECT  # cobalt, carbon monoxide


@pytest.mark.parametrize(
    ("answer", "reference"),
    [("\\begin{pmatrix}1 & 2 & 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}"),
     ("\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}", "\\begin{bmatrix}1 & 2 & 3 & 4\\end{bmatrix}"),
     ("[[1, 2], [3, 4]]", "[1, 2, 3, 4]")],
)  # fmt: skip
def test_matrices_of_different_shapes_are_never_equal(answer, reference):
    assert compare_answers(answer, reference).outcome is not Outcome.CORRECT


@pytest.mark.parametrize(("answer", "reference"), [("X", "x"), ("mN", "MN"), ("Pa", "pa"), ("Mg", "mg")])
def test_case_folds_only_where_it_carries_no_meaning(answer, reference):
    assert compare_answers(answer, reference).outcome is not Outcome.CORRECT
    assert compare_answers("Lorentz Force", "lorentz force").outcome is Outcome.CORRECT
    assert compare_answers("DNA", "dna").outcome is Outcome.CORRECT  # a word of three letters or more


def test_what_nothing_settles_is_undecided_and_no_answer_is_wrong():
    assert compare_answers("dog", "god").outcome is Outcome.UNDECIDED  # never a product of letters
    assert compare_answers("the Lorentz force", "Lorentz force law").outcome is Outcome.UNDECIDED
    assert check_answer("I am not sure.\nLet me think more.", "5").outcome is not Outcome.CORRECT
    none = check_answer("", "5")
    assert (none.outcome, none.decided_by, none.correct) == (Outcome.WRONG, "no_answer", False)
    assert compare_answers("4", "5").correct is False and compare_answers("dog", "god").correct is None

"""The answer checker against a test suite nobody here wrote: Math-Verify 0.9.0's own (gold, prediction,
expected) cases, vendored as data in tests/fixtures/math_verify/. A case agrees when the checker credits the
prediction (correct) exactly where Math-Verify's test expects a match; wrong and undecided both count as no
credit, as in the training reward."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from autodata.rules.answers import Outcome, check_answer

CASES = json.loads((Path(__file__).parents[2] / "fixtures" / "math_verify" / "cases.json").read_text())
MIN_AGREEMENT = 0.95

# (gold, prediction) -> why the checker's verdict differs from the one Math-Verify's test expects.
ACCEPTED_DISAGREEMENTS = {
    ("1000.99", "1000,99"): "a decimal comma: the checker reads one comma between digits as a list (1000, 99)",
    ("1,22", "1.22"): "a decimal comma in the gold: read as the pair (1, 22), as in a multi-part answer",
    ("$9$", "Answer $ \n 9 \n $"): "credits an answer whose $...$ spans lines; Math-Verify's LaTeX regex does not",
    ("$9$", "Answer \\( \n 9 \n \\)"): "the same, with \\( \\) delimiters",
    ("$(\\begin{pmatrix}\\frac{1}{3}\\\\ \\frac{1}{5} \\end{pmatrix})$", "$\\begin{pmatrix}0.33\\\\0.2 \\end{pmatrix}$"):
        "the test loosens float rounding to 2 digits; the checker keeps Math-Verify's default of 6",
    ("$(\\frac{3}{5},\\frac{8}{3}]$", "$(0.6,2.6667]$"): "the same 2-digit rounding",
    ("$x \\in [-2,7]$", "$-2 \\\\le x \\\\le 7$"):
        "the test turns on allow_set_relation_comp; the checker keeps the default (off)",
    ("\\boxed{1} no no no no no \\boxed{2}", "$\\boxed{1,2}$"):
        "the checker keeps every box of a multi-part answer; this test expects prose between boxes to split them",
    ("$f(x)$", "$f(y)$"): "the test turns strict off to equate f(x) and f(y); the checker stays strict",
}  # fmt: skip


@cache
def _disagreeing() -> tuple[dict, ...]:
    """The cases where the checker credits a prediction Math-Verify's test rejects, or the reverse."""
    credited = [check_answer(c["pred"], c["gold"]).outcome is Outcome.CORRECT for c in CASES]
    return tuple(c for c, ok in zip(CASES, credited, strict=True) if ok != bool(c["expected"]))


def test_the_checker_agrees_with_math_verifys_own_test_cases():
    disagreements = {(c["gold"], c["pred"]) for c in _disagreeing()}
    agreement = 1 - len(disagreements) / len(CASES)
    assert len(CASES) == 282
    assert agreement >= MIN_AGREEMENT, f"{agreement:.1%}"
    assert disagreements <= set(ACCEPTED_DISAGREEMENTS), sorted(disagreements - set(ACCEPTED_DISAGREEMENTS))


def test_credit_math_verify_withholds_is_granted_only_in_the_listed_cases():
    granted = [c for c in _disagreeing() if not c["expected"]]
    assert {(c["gold"], c["pred"]) for c in granted} <= {
        ("$9$", "Answer $ \n 9 \n $"), ("$9$", "Answer \\( \n 9 \n \\)"), ("\\boxed{1} no no no no no \\boxed{2}", "$\\boxed{1,2}$"),
    }  # fmt: skip

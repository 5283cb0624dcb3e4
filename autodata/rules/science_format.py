"""Format rules of science items checked in code (METHOD.md §4), on top of every item's rules (format_rules).

The answer must not be stated in the question either (the solvers see the question). Bare integers are
guessable and precision-sensitive decimals make correctness hinge on rounding, so both are rejected, also when
the seed problem's own answer is one (most seeds of real problem sets have integer answers: a seed exemption
would turn the rule off). Only a run that says so (`[science] allow_numeric_answers = true`, recorded in
config.json) keeps such an answer, and the item says so in a flag. The challenger's labels must be a listed
question type and 2-3 snake_case skill tags.
"""

from __future__ import annotations

import re
from typing import Literal

from autodata.rules.format_rules import SCIENCE_QUESTION_TYPES, answer_leaks_into, format_violations, normalize
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import CandidateItem, TaskFamily

AnswerShape = Literal["bare_integer", "precise_decimal"]

_BOXED = re.compile(r"^\\boxed\{(.*)\}$")
_VARIABLE_PREFIX = re.compile(r"^[A-Za-z]\s*=\s*")
_INTEGER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)$")
_PRECISE_DECIMAL = re.compile(r"\d*\.\d{2,}")
MIN_LEAK_CHARS = 4

_SHAPE_RULE = {
    "bare_integer": "the answer is a bare integer, which a solver can guess; rewrite the problem so that its answer "
    "is an expression, an exact form, a named entity or a short phrase",
    "precise_decimal": "the answer is a decimal whose correctness depends on rounding; rewrite the problem so that "
    "its answer is an exact form (a fraction, a surd, a multiple of pi), an expression or a named entity",
}


def _core(answer: str) -> str:
    core = answer.strip().rstrip(".").strip().strip("$").strip()
    boxed = _BOXED.match(core)
    core = boxed.group(1).strip() if boxed else core
    return _VARIABLE_PREFIX.sub("", core)


def answer_shape(answer: str) -> AnswerShape | None:
    """Which guessable or precision-sensitive kind the answer is, if any."""
    core = _core(answer)
    if _INTEGER.match(core):
        return "bare_integer"
    if _PRECISE_DECIMAL.search(core):
        return "precise_decimal"
    return None


def _states_answer(question: str, answer: str) -> bool:
    # Short answers ("2", "x") appear in problem data by chance; four characters or more do not.
    return len(normalize(answer)) >= MIN_LEAK_CHARS and answer_leaks_into(answer, question)


def science_format_check(
    item: CandidateItem, policy: AcceptancePolicy, allow_numeric_answers: bool = False
) -> tuple[list[str], list[str]]:
    """(problems that reject the item, flags it carries: a numeric answer the run explicitly allows)."""
    problems = format_violations(item, TaskFamily.VERIFIABLE, policy, SCIENCE_QUESTION_TYPES)
    if _states_answer(item.question, item.reference_answer):
        problems.append("the question states the reference answer")
    flags: list[str] = []
    shape = answer_shape(item.reference_answer)
    if shape is not None:
        if allow_numeric_answers:
            flags.append(f"{shape.replace('_', ' ')} answer allowed: the run sets allow_numeric_answers")
        else:
            problems.append(_SHAPE_RULE[shape])
    return problems, flags

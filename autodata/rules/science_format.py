"""Format rules of science items checked in code (METHOD.md §4), on top of every item's rules (format_rules).

The answer must not be stated in the question either (the solvers see the question). Bare integers are
guessable and precision-sensitive decimals make correctness hinge on rounding, so both are rejected, unless
the seed problem's own answer is of that kind: then the item keeps it and says so in a flag.
"""

from __future__ import annotations

import re
from typing import Literal

from autodata.rules.format_rules import answer_leaks_into, format_violations, normalize
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import CandidateItem, TaskFamily

AnswerShape = Literal["bare_integer", "precise_decimal"]

_BOXED = re.compile(r"^\\boxed\{(.*)\}$")
_VARIABLE_PREFIX = re.compile(r"^[A-Za-z]\s*=\s*")
_INTEGER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)$")
_PRECISE_DECIMAL = re.compile(r"\d*\.\d{2,}")
MIN_LEAK_CHARS = 4

_SHAPE_RULE = {
    "bare_integer": "the answer is a bare integer, which a solver can guess; ask for an exact expression, "
    "a named entity or a short phrase",
    "precise_decimal": "the answer is a decimal whose correctness depends on rounding; ask for an exact form",
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
    item: CandidateItem, seed_answer: str | None, policy: AcceptancePolicy
) -> tuple[list[str], list[str]]:
    """(problems that reject the item, flags the item carries because the seed is of the same kind)."""
    problems = format_violations(item, TaskFamily.VERIFIABLE, policy)
    if _states_answer(item.question, item.reference_answer):
        problems.append("the question states the reference answer")
    flags: list[str] = []
    shape = answer_shape(item.reference_answer)
    if shape is not None:
        if seed_answer is not None and answer_shape(seed_answer) == shape:
            flags.append(f"{shape.replace('_', ' ')} answer allowed: the seed problem's answer is one too")
        else:
            problems.append(_SHAPE_RULE[shape])
    return problems, flags

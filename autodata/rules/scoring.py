"""Scoring rules shared by the graphs' nodes and by training's rewards: rubric scores and the one rubric
grader, final-answer extraction, answer equivalence and majority, the science graph's answer check (math-verify,
else a binary judge) and exact-count acceptance, and the acceptance rules.

Nothing here lets a model vote directly: a judge's verdicts come in as hits, the arithmetic is here.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from math_verify import parse, verify

from autodata.rules.format_rules import normalize
from autodata.llm.models import ModelCallFailed, ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.state.llm_outputs import grades_schema
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import AttemptScore, RoleUsage, RoundOutcome, RubricCriterion, SolverRole, TaskFamily
from autodata.state.science_outputs import AnswerMatch

# --- rubric ---------------------------------------------------------------------------------------------

def rubric_score(criteria: list[RubricCriterion], hits: list[bool]) -> float:
    """clip(sum(w_i * hit_i) / sum(positive w), 0, 1); a hit on a negative criterion is the mistake made."""
    positive = sum(c.weight for c in criteria if c.weight > 0)
    if positive <= 0:
        return 0.0
    raw = sum(c.weight for c, hit in zip(criteria, hits, strict=True) if hit)
    return min(1.0, max(0.0, raw / positive))



@dataclass(frozen=True)
class RubricGrade:
    """One answer graded against a rubric: the judge's verdict per criterion and the score, or why not."""

    hits: list[bool] | None
    score: float | None
    usage: RoleUsage
    error: str | None = None
    endpoint_failure: ModelCallFailed | None = None  # the endpoint failed (not a malformed verdict)


async def grade_rubric(
    provider: ModelProvider,
    prompts: PromptLibrary,
    *,
    question: str,
    context: str,
    answer: str,
    rubric: list[RubricCriterion],
    metadata: dict[str, Any] | None = None,
) -> RubricGrade:
    """The judge role marks each criterion 0/1, blind to the reference answer (it is never passed)."""
    messages = prompts.messages("judge_rubric", question=question, context=context, answer=answer, criteria=rubric)
    # The schema admits exactly one verdict per criterion: a wrong count is re-asked like malformed output.
    result = await provider.structured("judge", grades_schema(len(rubric)), messages, metadata=metadata)
    if not result.ok:
        return RubricGrade(hits=None, score=None, usage=result.usage, error=result.error, endpoint_failure=result.failure)
    hits = list(result.value.verdicts)
    return RubricGrade(hits=hits, score=rubric_score(rubric, hits), usage=result.usage)


# --- final answers and equivalence ----------------------------------------------------------------------

MAX_BARE_ANSWER_CHARS = 40
_FINAL_LINE = re.compile(r"final answer\s*[:：]\s*(.+)", re.IGNORECASE)


def _boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def extract_final_answer(reply: str) -> str:
    """The answer a verifiable-task reply commits to: 'Final answer: X', else \\boxed{X}, else the whole reply
    when it is one short line (an answer-only reply). Anything else commits to nothing: taking, say, the last
    line of a worked solution would credit an intermediate step such as "10-4" as the answer 6."""
    matches = _FINAL_LINE.findall(reply)
    if matches:
        return matches[-1].strip().rstrip(".").strip()
    boxed = _boxed(reply)
    if boxed is not None:
        return boxed.strip()
    stripped = reply.strip()
    return stripped if "\n" not in stripped and len(stripped) <= MAX_BARE_ANSWER_CHARS else ""


def _timeout() -> int | None:
    # math-verify's timeout uses signal.alarm, which only works on the main thread.
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple:
    for candidate in (text, f"${text}$"):
        try:
            result = parse(candidate, parsing_timeout=_timeout())
        except Exception:  # noqa: BLE001 - unparsable answers fall back to string matching
            result = []
        if result:
            return tuple(result)
    return ()


_ARTICLES = frozenset({"a", "an", "the"})


def normalized_answer(text: str) -> str:
    """Lower-case words without punctuation or articles (the usual short-answer normalisation)."""
    return " ".join(word for word in normalize(text).split() if word not in _ARTICLES)


# Signs, brackets and operators: the loose normalised match drops them, so it may only equate two answers whose
# symbols agree ("-1" is not "1", "(2, 12)" is not "[2, 12]"). A hyphen inside a word ("Navier-Stokes") is none.
_SYMBOLS = re.compile(r"[-+\u2212\u00b1()\[\]{}<>=/^*|]")
_WORD_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")


def _symbols(text: str) -> list[str]:
    return _SYMBOLS.findall(_WORD_HYPHEN.sub(" ", text))


def equivalent(answer: str, reference: str) -> bool:
    """Identical text (up to case, spacing, a leading article, a final stop); else math-verify where both are
    mathematical expressions; else, for phrases, names and quantities with units, a normalised match that
    must keep every sign and bracket. The normalised match never overrides math-verify (it made "-1" equal
    "1" and "(2,12)" equal "[2,12]" when it ran first)."""
    answer, reference = answer.strip().strip("$").strip(), reference.strip().strip("$").strip()
    if not answer or not reference:
        return False
    if _identical(answer, reference):
        return True
    decision = math_verify_decision(answer, reference)
    if decision is not None:
        return decision
    loose = normalized_answer(answer)
    return bool(loose) and loose == normalized_answer(reference) and _symbols(answer) == _symbols(reference)


def majority_answer(answers: list[str]) -> tuple[str | None, int]:
    """The most common answer up to equivalence, and how many samples gave it (ties: first seen)."""
    clusters: list[list[str]] = []
    for answer in (a for a in answers if a.strip()):
        for cluster in clusters:
            if equivalent(answer, cluster[0]):
                cluster.append(answer)
                break
        else:
            clusters.append([answer])
    if not clusters:
        return None, 0
    best = max(clusters, key=len)
    return Counter(best).most_common(1)[0][0], len(best)



# --- science answers: math-verify where it can decide, a binary judge against the reference elsewhere ----

_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_LETTER_RUN = re.compile(r"[A-Za-z]+")
_NUMBER_THEN_UNIT = re.compile(r"\d\s+[A-Za-z]")
_UNIT_MARKUP = re.compile(r"\\(?:text|mathrm|operatorname|mbox|textrm)\b|°")
_MATH_WORDS = frozenset("sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh log ln exp sqrt pi infty".split())


def _bare(text: str) -> str:
    return text.strip().rstrip(".").strip().strip("$").strip()


def math_verify_can_decide(text: str) -> bool:
    """True when `text` is a mathematical expression (number, fraction, formula) math-verify reads as one.

    Phrases, named entities and quantities with units are not: inside $...$ math-verify would read
    "Lorentz force" as a product of letters, and it drops units ("3 m/s" parses as 3).
    """
    core = _bare(text)
    if not core or _UNIT_MARKUP.search(core) or _NUMBER_THEN_UNIT.search(core):
        return False
    words = _LETTER_RUN.findall(_LATEX_COMMAND.sub(" ", core))
    if any(len(word) > 1 and word.lower() not in _MATH_WORDS for word in words):
        return False
    return bool(_parsed_math(core))


def _parsed_math(core: str) -> tuple:
    # Delimited first: undelimited, math-verify may pick one number out of LaTeX ("\\frac{\\sqrt 2}{2}" -> 2).
    return _parsed(f"${core}$")


def math_verify_decision(answer: str, reference: str) -> bool | None:
    """math-verify's verdict on the two answers, or None where it cannot decide (see math_verify_can_decide)."""
    if not (math_verify_can_decide(answer) and math_verify_can_decide(reference)):
        return None
    try:
        gold, pred = _parsed_math(_bare(reference)), _parsed_math(_bare(answer))
        return bool(verify(list(gold), list(pred), timeout_seconds=_timeout()))
    except Exception:  # noqa: BLE001 - math-verify failing on an input is "cannot decide", not "wrong"
        return None


@dataclass(frozen=True)
class AnswerVerdict:
    """One final answer checked against the reference: correct (None = not scored) and what decided it."""

    correct: bool | None
    decided_by: str  # exact_match | math_verify | judge | no_answer | unscored
    reason: str = ""
    usage: RoleUsage = field(default_factory=RoleUsage)
    failure: ModelCallFailed | None = None  # the judge's endpoint failed: the caller raises it (not a verdict)


async def judge_answer(
    provider: ModelProvider,
    prompts: PromptLibrary,
    *,
    question: str,
    answer: str,
    reference: str,
    metadata: dict[str, Any] | None = None,
) -> AnswerVerdict:
    """The judge role says, yes or no, whether the final answer means the same as the reference."""
    messages = prompts.messages("judge_answer", question=question, answer=answer, reference=reference)
    result = await provider.structured("judge", AnswerMatch, messages, metadata=metadata)
    if not result.ok:
        return AnswerVerdict(None, "unscored", f"judge: {result.error}", result.usage, failure=result.failure)
    return AnswerVerdict(bool(result.value.equivalent), "judge", result.value.reason.strip()[:500], result.usage)


_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def _identical(answer: str, reference: str) -> bool:
    """The same text up to case, spacing, a leading article and a final full stop. Signs, brackets and
    digits all count (unlike `normalized_answer`, which would make "-1" match "1")."""

    def plain(text: str) -> str:
        return _LEADING_ARTICLE.sub("", " ".join(_bare(text).lower().split()))

    return bool(plain(answer)) and plain(answer) == plain(reference)


async def check_final_answer(
    provider: ModelProvider,
    prompts: PromptLibrary,
    *,
    question: str,
    answer: str,
    reference: str,
    metadata: dict[str, Any] | None = None,
) -> AnswerVerdict:
    """math-verify where it can decide; else identical text; else the judge. The judge never overrides
    math-verify, and is not asked about answers identical to the reference."""
    if not answer.strip():
        return AnswerVerdict(False, "no_answer", "the reply commits to no final answer")
    decision = math_verify_decision(answer, reference)
    if decision is not None:
        return AnswerVerdict(decision, "math_verify")
    if _identical(answer, reference):
        return AnswerVerdict(True, "exact_match")
    return await judge_answer(
        provider, prompts, question=question, answer=answer, reference=reference, metadata=metadata
    )


def correct_count_bounds(weak_samples: int, strong_samples: int, policy: AcceptancePolicy) -> tuple[int, int]:
    """(most weak samples that may be correct, fewest strong samples that must be): 1 and 3 of 4 by default."""
    weak_max = math.floor(policy.weak_max_correct_fraction * weak_samples + _EPS)
    strong_min = math.ceil(policy.strong_min_correct_fraction * strong_samples - _EPS)
    return weak_max, strong_min


def count_outcome(
    weak_correct: int, weak_samples: int, strong_correct: int, strong_samples: int, policy: AcceptancePolicy
) -> RoundOutcome:
    """Exact-count acceptance for verifiable items: no averaging and no majority shortcut."""
    weak_max, strong_min = correct_count_bounds(weak_samples, strong_samples, policy)
    if weak_correct > weak_max:
        return RoundOutcome.TOO_EASY
    if strong_correct < strong_min:
        return RoundOutcome.FAILED_ON_STRONG
    return RoundOutcome.ACCEPTED



# --- acceptance rules ------------------------------------------------------------------------------------
# Every rule bounds one measure of the round's scores by one policy field; a preset (state/policy.py) decides
# which fields are set. Weak rules run after the weak samples are scored (the strong solver runs only when
# they all hold), the strong rules after the strong samples. A check returns the name of the first rule that
# fails, which the round records (stats.json counts e.g. `too_easy:weak_zero`).

_EPS = 1e-9
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda value, bound: value <= bound + _EPS,
    "<": lambda value, bound: value < bound - _EPS,
    ">=": lambda value, bound: value >= bound - _EPS,
    ">": lambda value, bound: value > bound + _EPS,
}


@dataclass(frozen=True)
class AcceptanceRule:
    name: str  # reported when the rule fails
    field: str  # the AcceptancePolicy field holding the bound (a bool field: on means the bound 0)
    measure: str  # weak_avg, weak_max, weak_min, strong_avg, strong_min or gap
    op: str  # a key of _COMPARE

    @property
    def stage(self) -> SolverRole:
        return "weak" if self.measure.startswith("weak") else "strong"

    def bound(self, policy: AcceptancePolicy) -> float | None:
        value = getattr(policy, self.field)
        if isinstance(value, bool):
            return 0.0 if value else None
        return value

    def holds(self, measures: dict[str, float], policy: AcceptancePolicy) -> bool:
        bound = self.bound(policy)
        return bound is None or _COMPARE[self.op](measures[self.measure], bound)


RUBRIC_RULES: tuple[AcceptanceRule, ...] = (
    AcceptanceRule("weak_avg_ceiling", "weak_max_avg", "weak_avg", "<="),
    AcceptanceRule("weak_avg_ceiling", "weak_avg_below", "weak_avg", "<"),
    AcceptanceRule("weak_max_ceiling", "weak_max_score", "weak_max", "<="),
    AcceptanceRule("weak_zero", "no_weak_zero", "weak_min", ">"),
    AcceptanceRule("strong_floor", "strong_min_avg", "strong_avg", ">="),
    AcceptanceRule("strong_ceiling", "strong_max_avg", "strong_avg", "<="),
    AcceptanceRule("strong_ceiling", "strong_avg_below", "strong_avg", "<"),
    AcceptanceRule("strong_zero", "no_strong_zero", "strong_min", ">"),
    AcceptanceRule("gap", "min_gap", "gap", ">="),
)
VERIFIABLE_RULES: tuple[AcceptanceRule, ...] = (
    AcceptanceRule("weak_correct_ceiling", "weak_max_correct_fraction", "weak_avg", "<="),
    AcceptanceRule("strong_correct_floor", "strong_min_correct_fraction", "strong_avg", ">="),
)


def mean_score(scores: list[AttemptScore]) -> float | None:
    values = [s.score for s in scores if s.score is not None]
    return sum(values) / len(values) if values else None


def any_unscored(scores: list[AttemptScore]) -> bool:
    return not scores or any(s.score is None for s in scores)


def score_measures(weak: list[AttemptScore], strong: list[AttemptScore]) -> dict[str, float]:
    """What the rules bound; a solver without scored samples counts as 0."""
    weak_values = [s.score for s in weak if s.score is not None] or [0.0]
    strong_values = [s.score for s in strong if s.score is not None] or [0.0]
    weak_avg, strong_avg = sum(weak_values) / len(weak_values), sum(strong_values) / len(strong_values)
    return {
        "weak_avg": weak_avg, "weak_max": max(weak_values), "weak_min": min(weak_values),
        "strong_avg": strong_avg, "strong_min": min(strong_values), "gap": strong_avg - weak_avg,
    }  # fmt: skip


def acceptance_rules(family: TaskFamily, stage: SolverRole) -> tuple[AcceptanceRule, ...]:
    rules = VERIFIABLE_RULES if family is TaskFamily.VERIFIABLE else RUBRIC_RULES
    return tuple(rule for rule in rules if rule.stage == stage)


def _first_failed(
    stage: SolverRole,
    weak: list[AttemptScore],
    strong: list[AttemptScore],
    family: TaskFamily,
    policy: AcceptancePolicy,
) -> str | None:
    policy = policy.for_task(None)  # a bare AcceptancePolicy() means the default preset
    measures = score_measures(weak, strong)
    return next((rule.name for rule in acceptance_rules(family, stage) if not rule.holds(measures, policy)), None)


def weak_failed_rule(weak: list[AttemptScore], family: TaskFamily, policy: AcceptancePolicy) -> str | None:
    """The first weak rule the weak samples break (the item is then not worth the strong solver), or None."""
    return _first_failed("weak", weak, [], family, policy)


def strong_failed_rule(
    weak: list[AttemptScore], strong: list[AttemptScore], family: TaskFamily, policy: AcceptancePolicy
) -> str | None:
    """The first strong rule (strong floor, ceiling, zero floor, gap) the samples break, or None."""
    return _first_failed("strong", weak, strong, family, policy)


def weak_check_passes(weak: list[AttemptScore], family: TaskFamily, policy: AcceptancePolicy) -> bool:
    """True when the weak solver failed enough for the item to be worth trying on the strong solver."""
    return weak_failed_rule(weak, family, policy) is None


def strong_check_passes(
    weak: list[AttemptScore], strong: list[AttemptScore], family: TaskFamily, policy: AcceptancePolicy
) -> bool:
    return strong_failed_rule(weak, strong, family, policy) is None

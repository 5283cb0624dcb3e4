"""Scoring rules shared by the graphs' nodes and by training's rewards: rubric scores and the one rubric
grader, final-answer extraction, answer equivalence and majority, and the acceptance rules.

Nothing here lets a model vote directly: a judge's verdicts come in as hits, the arithmetic is here.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from math_verify import parse, verify

from autodata.format_rules import normalize
from autodata.models import ModelCallFailed, ModelProvider
from autodata.prompt_library import PromptLibrary
from autodata.state.llm_outputs import grades_schema
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import AttemptScore, RoleUsage, RubricCriterion, SolverRole, TaskFamily

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


def equivalent(answer: str, reference: str) -> bool:
    answer, reference = answer.strip().strip("$").strip(), reference.strip().strip("$").strip()
    if not answer or not reference:
        return False
    if normalized_answer(answer) and normalized_answer(answer) == normalized_answer(reference):
        return True
    gold, pred = _parsed(reference), _parsed(answer)
    if not gold or not pred:
        return False
    try:
        return bool(verify(list(gold), list(pred), timeout_seconds=_timeout()))
    except Exception:  # noqa: BLE001
        return False


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

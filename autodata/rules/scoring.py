"""Scoring rules shared by the graphs' nodes and by training's rewards: rubric scores and the one rubric
grader, answer equivalence and majority (through the one answer checker, `autodata.rules.answers`), the science
graph's answer check (the checker, else a binary judge where it is undecided) and exact-count acceptance, and the
acceptance rules.

Nothing here lets a model vote directly: a judge's verdicts come in as hits, the arithmetic is here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autodata.llm.models import ModelCallFailed, ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.rules.answers import Outcome, compare_answers
from autodata.rules.answers import Verdict, check_answer, extract_final_answer  # noqa: F401 - re-exported for callers
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


# --- final answers and equivalence: the one checker is autodata.rules.answers -------------------------------


def equivalent(answer: str, reference: str) -> bool:
    """True only when the checker decides the answer is correct; wrong and undecided are both False."""
    return compare_answers(answer, reference).outcome is Outcome.CORRECT


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


# --- science answers: the checker where it decides, a binary judge against the reference elsewhere --------


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


# The science records name two deciders in code: math-verify, and the text rules (same text, formulas,
# option letters, the normalised match), which they call exact_match.
_RECORDED_DECIDER = {"math_verify": "math_verify", "no_answer": "no_answer"}


async def check_final_answer(
    provider: ModelProvider,
    prompts: PromptLibrary,
    *,
    question: str,
    answer: str,
    reference: str,
    metadata: dict[str, Any] | None = None,
) -> AnswerVerdict:
    """The answer checker where it decides; the judge only where it is undecided, never overriding it."""
    verdict = compare_answers(answer, reference)
    if verdict.outcome is not Outcome.UNDECIDED:
        reason = "the reply commits to no final answer" if verdict.decided_by == "no_answer" else verdict.decided_by
        return AnswerVerdict(verdict.correct, _RECORDED_DECIDER.get(verdict.decided_by, "exact_match"), reason)
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
    policy = policy.resolved()  # a bare AcceptancePolicy() means the default preset
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

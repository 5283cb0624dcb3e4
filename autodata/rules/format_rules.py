"""Format and rubric-shape rules every item must meet, checked in code before any quality-verifier model call
(the model judges the rest). Each violation names its rule, which the round records.

- atomic: one thing asked (at most one question mark, no numbered sub-questions);
- one-sentence answer (verifiable items only: METHOD.md section 4): the reference answer is short and one sentence;
- labels, where the task's challenger writes them: a `question_type` from the task's list (the same list its
  prompt shows) and 2-3 snake_case `reasoning_skills` tags;
- no leak: the reference answer does not appear in the context the solver sees;
- rubric shape (METHOD.md section 2): size within the policy's range, enough positive and negative criteria,
  integer weights within +-max_abs_weight (never 0), a category that agrees with the weight's sign, and no
  criterion that grades format or style instead of reasoning.

The end-of-loop filter adds stricter checks on accepted items: a context long enough to stand on its own,
a lower bar for calling the answer leaked, and the rubric shape once more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import CandidateItem, RubricCriterion, TaskFamily

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")
_SUBQUESTION = re.compile(r"(?:^|\s)(?:\(?[a-d]\)|\(?[ivx]+\)|[1-9][.)])\s", re.IGNORECASE)
_STOPWORDS = frozenset("a an the of to in on and or is are was were be by for with that this it as at".split())
IN_LOOP_LEAK_OVERLAP = 0.9
END_FILTER_LEAK_OVERLAP = 0.75
# Criteria that grade how an answer looks rather than what it reasons (METHOD.md section 2 rejects them). The
# patterns name the answer's form, so research terms such as "sequence length", "context-free grammar",
# "citation graph" or "well-structured sparsity" are not caught.
_WELL_DONE = r"well[-\s]?(?:structured|organi[sz]ed|written|formatted|presented)"
_FORMAT_PATTERNS = (
    rf"\b(?:answer|response|reply|explanation|it)\s+is\s+{_WELL_DONE}\b",
    rf"^\s*(?:is\s+)?{_WELL_DONE}\b",
    rf"\b{_WELL_DONE}\s+(?:answer|response|reply|explanation)\b",
    r"\b(?:uses?|using|employs?)\s+(?:[\w-]+\s+)?notation\b",
    r"\bnotation\s+(?:is|are)\s+(?:used|correct|consistent|clear)\b",
    r"\b(?:proper|good|clear|correct|consistent|nice)\s+formatting\b",
    r"\b(?:answer|response|reply)\s+(?:is\s+)?(?:well\s+|properly\s+|nicely\s+)?formatted\b",
    r"\bmarkdown\b",
    r"\bbullet(?:ed)?\s+(?:points?|list)",
    r"\b(?:uses?|section)\s+headings?\b",
    r"\bclear\s+and\s+concise\b",
    r"\b(?:is|be|being|remains?|stays?)\s+concise\b",
    r"\bconcise(?:ly|ness)\b",
    r"\b(?:logical\s+flow|clear\s+(?:presentation|organi[sz]ation))\b",
    r"\breadability\b",
    r"\b(?:is|be)\s+(?:easily\s+)?readable\b",
    r"\b(?:cites?|citing|citations?)\b(?:\s+[\w-]+){0,3}?\s+"
    r"(?:papers?|sources?|authors?|literature|work|references?|studies)\b",
    r"\breferences?\s+(?:to\s+)?the\s+(?:paper|source|authors?)\b",
    r"\b(?:answer|response|reply)\s+length\b",
    r"\blength\s+of\s+the\s+(?:answer|response|reply)\b",
    r"\bword\s+count\b",
    r"\b(?:under|at most|no more than|fewer than|within)\s+\d+\s+(?:words|sentences)\b",
    r"\b(?:answer|response|reply)\s+(?:is\s+)?(?:brief|short)\b",
    r"\b(?:correct|proper|good)\s+(?:grammar|spelling)\b",
    r"\bspelling\s+(?:errors?|mistakes?)\b",
    r"\btypos?\b",
    r"\bgrammatical(?:ly)?\s+(?:correct|errors?)\b",
    r"\bprofessional\s+tone\b",
)
_FORMAT_CRITERION = re.compile("|".join(f"(?:{pattern})" for pattern in _FORMAT_PATTERNS), re.IGNORECASE)


# The question types each challenger prompt lists (challenger_cs-research.md, challenger_science.md): a label
# outside its list is rejected in code. Compared case-insensitively, hyphens and spaces alike.
RESEARCH_QUESTION_TYPES: tuple[str, ...] = (
    "failure mode prediction", "outcome prediction", "scaling behaviour prediction", "counterfactual outcome",
    "constraint-based design selection", "trade-off analysis", "multi-factor interaction",
    "reconciling conflicting results",
)  # fmt: skip
SCIENCE_QUESTION_TYPES: tuple[str, ...] = (
    "multi-step derivation", "inverse problem", "limiting case", "identify the law",
    "apply a principle to a new situation", "symmetry or conservation argument", "compare two regimes",
    "find the hidden constraint",
)  # fmt: skip
MIN_SKILLS, MAX_SKILLS = 2, 3
_SNAKE_CASE_TAG = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def _label_key(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


def label_violations(item: CandidateItem, question_types: tuple[str, ...]) -> list[Violation]:
    """The challenger's labels against the shapes its prompt promises: a listed question type, 2-3 snake_case
    reasoning-skill tags."""
    problems: list[Violation] = []
    if _label_key(item.question_type) not in {_label_key(kind) for kind in question_types}:
        problems.append(Violation(
            "question_type_unlisted",
            f"question_type {item.question_type!r} is not one of the listed types: {', '.join(question_types)}",
        ))  # fmt: skip
    skills = item.reasoning_skills
    if not MIN_SKILLS <= len(skills) <= MAX_SKILLS:
        problems.append(Violation(
            "reasoning_skills_shape", f"reasoning_skills has {len(skills)} tags; it needs {MIN_SKILLS}-{MAX_SKILLS}"
        ))  # fmt: skip
    malformed = [tag for tag in skills if not _SNAKE_CASE_TAG.match(tag)]
    if malformed:
        problems.append(Violation(
            "reasoning_skills_shape", f"reasoning_skills tags must be single snake_case tags, not {malformed!r}"
        ))  # fmt: skip
    return problems


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def answer_leaks_into(answer: str, context: str, min_overlap: float = IN_LOOP_LEAK_OVERLAP) -> bool:
    """True when the context states the answer: verbatim (normalised), or nearly all its content words."""
    answer_norm, context_norm = normalize(answer), normalize(context)
    if not answer_norm or not context_norm:
        return False
    if f" {answer_norm} " in f" {context_norm} " and (len(answer_norm) >= 4 or answer_norm.isdigit()):
        return True
    words = set(_content_words(answer))
    if len(words) < 4:
        return False
    context_words = set(_content_words(context))
    return len(words & context_words) / len(words) >= min_overlap


def is_format_criterion(text: str) -> bool:
    return _FORMAT_CRITERION.search(text) is not None


def rubric_counts(rubric: list[RubricCriterion]) -> str:
    positive = sum(1 for c in rubric if c.weight > 0)
    negative = sum(1 for c in rubric if c.weight < 0)
    return f"Positive: {positive}, Negative: {negative}, Total: {len(rubric)}"


def _criterion_violation(number: int, criterion: RubricCriterion, max_abs_weight: int) -> Violation | None:
    weight = criterion.weight
    if weight != int(weight):
        return Violation("rubric_integer_weights", f"criterion {number} has weight {weight:g}; weights are integers")
    if weight == 0 or abs(weight) > max_abs_weight:
        return Violation(
            "rubric_weight_range",
            f"criterion {number} has weight {weight:g}; positive weights are 1..{max_abs_weight}, "
            f"negative -{max_abs_weight}..-1",
        )
    if criterion.category is not None and (criterion.category == "positive") != (weight > 0):
        return Violation(
            "rubric_category_sign", f"criterion {number} is marked {criterion.category} but has weight {weight:+g}"
        )
    if is_format_criterion(criterion.criterion):
        return Violation(
            "rubric_format_criterion",
            f"criterion {number} grades format or style, not reasoning: {criterion.criterion[:120]!r}",
        )
    return None


def rubric_violations(rubric: list[RubricCriterion], policy: AcceptancePolicy) -> list[Violation]:
    problems: list[Violation] = []
    low, high = policy.min_rubric_criteria, policy.max_rubric_criteria
    if not low <= len(rubric) <= high:
        problems.append(Violation("rubric_size", f"rubric has {len(rubric)} criteria; needs {low}-{high}"))
    positive = sum(1 for c in rubric if c.weight > 0)
    negative = sum(1 for c in rubric if c.weight < 0)
    min_positive = max(1, policy.min_positive_criteria)  # a score needs positive weight to divide by
    if positive < min_positive:
        problems.append(
            Violation("rubric_positives", f"rubric has {positive} positive criteria; needs at least {min_positive}")
        )
    min_negative = policy.min_negative_criteria
    if negative < min_negative:
        problems.append(
            Violation("rubric_negatives", f"rubric has {negative} negative criteria; needs at least {min_negative}")
        )
    for number, criterion in enumerate(rubric, start=1):
        violation = _criterion_violation(number, criterion, policy.max_abs_weight)
        if violation is not None:
            problems.append(violation)
    return problems


def item_violations(
    item: CandidateItem, family: TaskFamily, policy: AcceptancePolicy, question_types: tuple[str, ...] | None = None
) -> list[Violation]:
    """Every code rule the item breaks; the label rules only where `question_types` (the task's list) is given."""
    problems: list[Violation] = []
    question = item.question.strip()
    answer = item.reference_answer.strip()
    if not question:
        problems.append(Violation("empty_question", "empty question"))
    if not answer:
        problems.append(Violation("empty_answer", "empty reference answer"))
    if question.count("?") > 1 or len(_SUBQUESTION.findall(question)) >= 2:
        problems.append(Violation("multi_part", "asks more than one thing"))
    if family is TaskFamily.VERIFIABLE and _not_one_sentence(answer, policy.max_answer_words):
        problems.append(Violation("answer_not_one_sentence", "reference answer is not a single sentence"))
    if answer and answer_leaks_into(answer, item.context):
        problems.append(Violation("answer_in_context", "the context gives away the reference answer"))
    if family is TaskFamily.RUBRIC:
        problems += rubric_violations(item.rubric, policy)
    if question_types is not None:
        problems += label_violations(item, question_types)
    return problems


def _not_one_sentence(answer: str, max_words: int) -> bool:
    return len(answer.split()) > max_words or len(_SENTENCE_END.findall(answer.rstrip(".!?") + ".")) > 1


def format_violations(
    item: CandidateItem, family: TaskFamily, policy: AcceptancePolicy, question_types: tuple[str, ...] | None = None
) -> list[str]:
    """The messages of `item_violations`."""
    return [violation.message for violation in item_violations(item, family, policy, question_types)]


def end_filter_violations(item: CandidateItem, policy: AcceptancePolicy) -> list[Violation]:
    """The end-of-loop filter's code checks on an accepted rubric item (stricter than the in-loop ones)."""
    problems: list[Violation] = []
    words = len(item.context.split())
    if words < policy.min_context_words:
        problems.append(Violation(
            "end_filter_short_context", f"context has {words} words; needs at least {policy.min_context_words}"
        ))  # fmt: skip
    if answer_leaks_into(item.reference_answer, item.context, END_FILTER_LEAK_OVERLAP):
        problems.append(Violation("end_filter_leakage", "the context states most of the reference answer"))
    problems += [
        Violation("end_filter_rubric", f"malformed rubric: {violation.message}")
        for violation in rubric_violations(item.rubric, policy)
    ]
    return problems

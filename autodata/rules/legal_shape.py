"""Rules of the legal pipeline checked in code (METHOD.md section 3): rubric shape, the post-filter, and the
checks a loop judge's accept must also pass.

A shape violation is a rejection reason handed back to the writer, never an exception. A post-filter flag
sends the round back to IMPROVE whatever the loop judge said. An accept counts only when the acceptance checks
hold too (`acceptance_failures`): the shape as the method states it, whatever a config relaxed, strong above
weak by a gap, the strong samples over a floor, and a spread among the weak samples. No model output and no
text inside a document can vote on acceptance alone.
"""

from __future__ import annotations

import re

from autodata.state.legal import DiagnosticPacket, LegalAcceptance, LegalItem, LegalShapeRules

WEIGHT_RANGES: dict[str, tuple[int, int]] = {
    "critical": (8, 10),
    "important": (5, 7),
    "minor": (2, 4),
    "negative": (-10, -1),
}
PRIMARY_RANGE, SECONDARY_RANGE = (2, 4), (1, 3)
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# A negative criterion must name the mistake ("Asserts that X"), not the absence of a virtue.
_NEGATED_OPENING = re.compile(r"^\s*(does not|doesn't|fails to|omits|neglects to|lacks|never)\b", re.IGNORECASE)
# Checkable signs of two propositions in one criterion: a semicolon, or a second sentence.
_SECOND_SENTENCE = re.compile(r"[.!?]\s+[A-Z]")
_WORDS = re.compile(r"[A-Za-z]{2,}")
MIN_SUMMARY_WORDS = 3

CASE_RECAP_PHRASES: tuple[str, ...] = (
    "court of appeals", "supreme court of", "in the case of", "in re ", "the trial court held", "on appeal",
)  # fmt: skip
EXAM_PHRASES: tuple[str, ...] = ("you are an", "act as", "as a law clerk", "draft the brief")
_OLD_YEAR = re.compile(r"\b(18\d\d|19[0-3]\d)\b")


def _in_range(value: float, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _count_violations(item: LegalItem, rules: LegalShapeRules) -> list[str]:
    reasons = []
    count = len(item.rubric)
    if not rules.min_criteria <= count <= rules.max_criteria:
        reasons.append(f"rubric has {count} criteria; it needs {rules.min_criteria}-{rules.max_criteria}")
    negatives = sum(1 for c in item.rubric if c.weight_class == "negative")
    if negatives < rules.min_negative:
        needed = "at least one" if rules.min_negative == 1 else f"at least {rules.min_negative}"
        has = "no negative criterion" if not negatives else f"{negatives} negative criteria"
        reasons.append(f"rubric has {has}; it needs {needed}")
    primary, secondary = item.target_capabilities.primary, item.target_capabilities.secondary
    if not rules.capability_tags:
        return reasons
    if not _in_range(len(primary), PRIMARY_RANGE):
        reasons.append(f"target_capabilities has {len(primary)} primary tags; it needs 2-4")
    if not _in_range(len(secondary), SECONDARY_RANGE):
        reasons.append(f"target_capabilities has {len(secondary)} secondary tags; it needs 1-3")
    return reasons


def _summary_violations(item: LegalItem) -> list[str]:
    """`target_capabilities.rewarded` and `.penalised` are each a sentence: words, not a blank or a tag."""
    reasons = []
    for name in ("rewarded", "penalised"):
        text = getattr(item.target_capabilities, name).strip()
        if len(_WORDS.findall(text)) < MIN_SUMMARY_WORDS:
            reasons.append(f"target_capabilities.{name} must be a sentence of at least {MIN_SUMMARY_WORDS} words")
    return reasons


def _criterion_violations(index: int, criterion, rules: LegalShapeRules) -> list[str]:
    label = f"criterion {index}"
    reasons = []
    low, high = WEIGHT_RANGES[criterion.weight_class]
    if rules.weight_ranges and not low <= criterion.weight <= high:
        range_ = f"the {criterion.weight_class} range {low}..{high}"
        reasons.append(f"{label}: weight {criterion.weight:g} is outside {range_}")
    if rules.capability_tags and not _SNAKE_CASE.match(criterion.capability):
        reasons.append(f"{label}: capability {criterion.capability!r} is not a snake_case tag")
    text = criterion.criterion.strip()
    if not text:
        reasons.append(f"{label}: empty criterion")
    elif rules.one_proposition and (";" in text or _SECOND_SENTENCE.search(text)):
        reasons.append(f"{label}: states more than one proposition")
    if criterion.weight_class == "negative" and _NEGATED_OPENING.match(text):
        reasons.append(f"{label}: a negative criterion must name the mistake affirmatively ('Asserts that ...')")
    return reasons


def rubric_shape_violations(item: LegalItem, rules: LegalShapeRules) -> list[str]:
    """Every way the writer's item breaks the shape rules; empty when it is well formed."""
    reasons = [] if item.question.strip() else ["the question is empty"]
    reasons += _count_violations(item, rules)
    reasons += _summary_violations(item)
    for index, criterion in enumerate(item.rubric, start=1):
        reasons += _criterion_violations(index, criterion, rules)
    return reasons


def _contains_words(text: str, phrase: str) -> bool:
    # Whole words only: "act as" must not fire on "the contract as signed".
    return re.search(rf"\b{re.escape(phrase.strip())}\b", text, re.IGNORECASE) is not None


def post_filter_flags(question: str, rules: LegalShapeRules) -> list[str]:
    """Layer 1 of the decision: reasons the question goes back to IMPROVE whatever the loop judge says."""
    flags = []
    if len(question) > rules.max_question_chars:
        flags.append(f"body_length: the question has {len(question)} characters (max {rules.max_question_chars})")
    for family, phrases in (("case_recap", CASE_RECAP_PHRASES), ("exam_prompt", EXAM_PHRASES)):
        for phrase in phrases:
            if _contains_words(question, phrase):
                flags.append(f"{family}: the question contains {phrase.strip()!r}")
    for year in sorted(set(_OLD_YEAR.findall(question))):
        flags.append(f"old_year: the question mentions {year}")
    return flags


def method_shape(rules: LegalShapeRules) -> LegalShapeRules:
    """`rules` made at least as strict as METHOD.md section 3.2: a config may tighten the shape, never relax it."""
    method = LegalShapeRules()
    return LegalShapeRules(
        min_criteria=max(rules.min_criteria, method.min_criteria),
        max_criteria=min(rules.max_criteria, method.max_criteria),
        min_negative=max(rules.min_negative, method.min_negative),
        max_question_chars=min(rules.max_question_chars, method.max_question_chars),
    )


def acceptance_failures(
    item: LegalItem, packet: DiagnosticPacket, shape: LegalShapeRules, checks: LegalAcceptance
) -> list[tuple[str, str]]:
    """(rule, reason) for every acceptance check the round fails; empty when a loop judge's accept may stand."""
    failures = [("legal_shape", reason) for reason in rubric_shape_violations(item, method_shape(shape))]
    weak, strong = packet.weak_avg, packet.strong_avg
    if strong is None or strong < checks.strong_min_avg - _EPS:
        failures.append(("legal_strong_floor", f"strong average {_fmt(strong)} is under the floor "
                                               f"{checks.strong_min_avg:.2f}"))  # fmt: skip
    gap = None if weak is None or strong is None else strong - weak
    if gap is None or gap < checks.min_gap - _EPS:
        failures.append(("legal_gap", f"strong minus weak is {_fmt(gap)}; it must be at least {checks.min_gap:.2f}"))
    if checks.weak_spread and not (packet.weak_std or 0.0) > _EPS:
        failures.append(("legal_weak_spread", f"the weak samples all scored the same ({_fmt(weak)}): no spread "
                                              "for GRPO to learn from"))  # fmt: skip
    return failures


def acceptance_evidence(packet: DiagnosticPacket, checks: LegalAcceptance) -> list[tuple[str, str]]:
    """(rule, what it measured) for each acceptance check that applies, as a reviewer reads them: what held where
    `acceptance_failures` found nothing."""
    method = LegalShapeRules()
    shape = (f"the rubric has the method's shape ({method.min_criteria}-{method.max_criteria} criteria, at least one "
             "negative, weights inside their classes)")  # fmt: skip
    evidence = [
        ("legal_shape", shape),
        ("legal_strong_floor", f"strong average {_fmt(packet.strong_avg)}, floor {checks.strong_min_avg:.2f}"),
        ("legal_gap", f"strong minus weak {_fmt(packet.gap)}, minimum {checks.min_gap:.2f}"),
    ]
    if checks.weak_spread:
        evidence.append(("legal_weak_spread", f"the weak scores spread (std {_fmt(packet.weak_std)})"))
    return evidence


_EPS = 1e-9


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"

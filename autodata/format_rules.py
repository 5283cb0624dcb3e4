"""Format rules every item must meet, checked in code (the quality verifier model judges the rest).

- atomic: one thing asked (at most one question mark, no numbered sub-questions);
- one-sentence answer: the reference answer is short and at most one sentence;
- verifiable: a non-empty answer and, for rubric tasks, a rubric within the policy's size with positive weight;
- no leak: the reference answer does not appear in the context the solver sees.
"""

from __future__ import annotations

import re

from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import CandidateItem, TaskFamily

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")
_SUBQUESTION = re.compile(r"(?:^|\s)(?:\(?[a-d]\)|\(?[ivx]+\)|[1-9][.)])\s", re.IGNORECASE)
_STOPWORDS = frozenset("a an the of to in on and or is are was were be by for with that this it as at".split())


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def answer_leaks_into(answer: str, context: str) -> bool:
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
    return len(words & context_words) / len(words) >= 0.9


def format_violations(item: CandidateItem, family: TaskFamily, policy: AcceptancePolicy) -> list[str]:
    problems: list[str] = []
    question = item.question.strip()
    answer = item.reference_answer.strip()
    if not question:
        problems.append("empty question")
    if not answer:
        problems.append("empty reference answer")
    if question.count("?") > 1 or len(_SUBQUESTION.findall(question)) >= 2:
        problems.append("asks more than one thing")
    if len(answer.split()) > policy.max_answer_words or len(_SENTENCE_END.findall(answer.rstrip(".!?") + ".")) > 1:
        problems.append("reference answer is not a single sentence")
    if answer and answer_leaks_into(answer, item.context):
        problems.append("the context gives away the reference answer")
    if family is TaskFamily.RUBRIC:
        count = len(item.rubric)
        if not policy.min_rubric_criteria <= count <= policy.max_rubric_criteria:
            problems.append(
                f"rubric has {count} criteria; needs {policy.min_rubric_criteria}-{policy.max_rubric_criteria}"
            )
        if not any(c.weight > 0 for c in item.rubric):
            problems.append("rubric has no positively weighted criterion")
    return problems

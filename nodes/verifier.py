"""Verifier (verifiable tasks): equivalence to the reference answer, and the majority vote over samples.

Math answers are compared with `math-verify` (so "1/2", "0.5" and "\\frac{1}{2}" agree); anything it cannot
parse falls back to a normalised string match.
"""

from __future__ import annotations

import threading
from collections import Counter
from functools import lru_cache

from autodata.state.schemas import AttemptScore, SolverAttempt
from math_verify import parse, verify

from autodata.format_rules import normalize


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


def verify_attempts(attempts: list[SolverAttempt], reference: str) -> list[AttemptScore]:
    scores = []
    for a in attempts:
        base = {"round": a.round, "role": a.role, "sample_index": a.sample_index}
        if a.error:
            scores.append(AttemptScore(**base, score=None, error=f"solver: {a.error}"))
            continue
        correct = equivalent(a.final_answer, reference)
        scores.append(AttemptScore(**base, score=1.0 if correct else 0.0, correct=correct))
    return scores

"""Verifier (verifiable tasks): each attempt's final answer checked for equivalence to the reference
(`autodata.rules.scoring.equivalent`: math-verify, else a normalised match)."""

from __future__ import annotations

from autodata.rules.scoring import equivalent
from autodata.state.schemas import AttemptScore, SolverAttempt


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

"""The analyzer's input: whole rounds (item, verdicts, every answer, per-criterion hits) packed into a budget."""

from __future__ import annotations

from typing import Any

from autodata.meta.digest import DigestLimits, estimate_tokens, pack_trajectories
from autodata.state.schemas import (
    AttemptScore,
    CandidateItem,
    QualityVerdict,
    RoundOutcome,
    RoundRecord,
    RubricCriterion,
    SolverAttempt,
)

RUBRIC = [RubricCriterion(criterion="names the bias-variance trade-off", weight=3.0),
          RubricCriterion(criterion="claims dropout needs labels", weight=-2.0)]  # fmt: skip


def round_row(number: int, outcome: RoundOutcome, answer: str = "", error: str | None = None) -> dict[str, Any]:
    item = CandidateItem(
        context=f"Context of round {number}.", question=f"Question {number}: which regime wins?",
        reference_answer=f"Reference {number}.", rubric=RUBRIC, question_type="constraint-based design selection",
    )  # fmt: skip
    attempts, scores = [], []
    for role, hits in (("weak", [True, False]), ("strong", [True, True])):
        for index in range(2):
            text = answer or f"{role} answer {index} of round {number}"
            attempts.append(SolverAttempt(round=number, role=role, sample_index=index, answer=text, error=error))
            scores.append(AttemptScore(round=number, role=role, sample_index=index, score=0.6, criteria_hits=hits))
    record = RoundRecord(
        round=number, item=item, quality=[QualityVerdict(passed=False, reasons=["answer leaked into the context"])],
        attempts=attempts, scores=scores, weak_avg=0.6, strong_avg=0.6, outcome=outcome,
    )  # fmt: skip
    return record.model_dump(mode="json")


def trajectory(doc_id: str, *rounds: dict[str, Any], status: str = "exhausted") -> dict[str, Any]:
    return {"doc_id": doc_id, "status": status, "rounds": list(rounds)}


def test_every_part_of_a_round_reaches_the_analyzer():
    packed = pack_trajectories([trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY))])
    text = packed.text
    for part in ("Context of round 1.", "Question 1: which regime wins?", "Reference 1.",
                 "constraint-based design selection", "answer leaked into the context",
                 "weak answer 0 of round 1", "weak answer 1 of round 1", "strong answer 1 of round 1"):  # fmt: skip
        assert part in text, part
    # Per-criterion hits, counted per solver and listed per sample.
    assert "c1 [+3] names the bias-variance trade-off | weak 2/2, strong 2/2" in text
    assert "c2 [-2] claims dropout needs labels | weak 0/2, strong 2/2" in text
    assert "weak sample 0 (score 0.60, hits: c1)" in text and "strong sample 1 (score 0.60, hits: c1 c2)" in text
    assert packed.dropped == [] and packed.rounds_total == 1 and packed.outcomes == {"too_easy": 1}


def test_answers_are_truncated_per_sample_not_per_digest():
    long_answer = "x" * 5000 + "TAIL"
    packed = pack_trajectories(
        [trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY, answer=long_answer))],
        DigestLimits(token_budget=100_000, answer_chars=300),
    )
    # All four samples appear, each cut to 300 characters, none with its tail.
    assert packed.text.count("x" * 300 + " [... 4704 more chars]") == 4 and "TAIL" not in packed.text


def test_least_informative_rounds_are_dropped_first_and_recorded():
    rows = [
        trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY), round_row(2, RoundOutcome.ACCEPTED),
                   status="accepted"),
        trajectory("doc-b", round_row(1, RoundOutcome.MODEL_ERROR), round_row(2, RoundOutcome.FAILED_ON_STRONG)),
        trajectory("doc-c", round_row(1, RoundOutcome.TOO_EASY, error="connection refused")),
    ]
    everything = pack_trajectories(rows, DigestLimits(token_budget=1_000_000))
    # A budget that fits about two of the five rounds (the document headers take the rest).
    budget = estimate_tokens(everything.text) * 3 // 5
    packed = pack_trajectories(rows, DigestLimits(token_budget=budget))
    assert packed.tokens <= budget
    reasons = [(d.doc_id, d.round, d.reason) for d in packed.dropped]
    # Infrastructure failures first (a model-error round, a round whose every call failed), then accepted ones.
    assert reasons[:3] == [("doc-b", 1, "infrastructure failure"), ("doc-c", 1, "infrastructure failure"),
                           ("doc-a", 2, "accepted")]  # fmt: skip
    assert reasons == reasons[:3]  # the two failed rounds, the informative ones, both stay
    assert "[document doc-a, round 1] outcome: too_easy" in packed.text
    assert "[document doc-b, round 2] outcome: failed_on_strong" in packed.text
    assert f"{len(packed.dropped)} round(s) left out to fit the token budget" in packed.text
    record = packed.packing()
    assert record["rounds_total"] == 5 and record["rounds_included"] == 5 - len(packed.dropped)
    assert record["dropped"][0] == {"doc_id": "doc-b", "round": 1, "outcome": "model_error",
                                    "reason": "infrastructure failure"}  # fmt: skip


def test_a_repeated_document_counts_once_the_last_row_wins():
    rows = [trajectory("doc-a", round_row(1, RoundOutcome.MODEL_ERROR)),
            trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY))]
    packed = pack_trajectories(rows)
    assert packed.rounds_total == 1 and packed.outcomes == {"too_easy": 1}
    assert packed.text.count("== document doc-a") == 1

"""The analyzer's input: whole rounds (item, verdicts, every answer, per-criterion hits) fitted into a budget
by condensing rounds, never by leaving them out."""

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
    assert packed.condensed == [] and packed.rounds_total == 1 and packed.outcomes == {"too_easy": 1}


def test_answers_are_shown_whole_when_they_fit():
    long_answer = "x" * 5000 + "TAIL"
    packed = pack_trajectories([trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY, answer=long_answer))],
                               DigestLimits(token_budget=100_000))  # fmt: skip
    assert packed.text.count("x" * 5000 + "TAIL") == 4 and packed.condensed == []
    assert "condensed" not in packed.text


def test_an_answer_limit_still_clips_per_sample_when_set():
    packed = pack_trajectories(
        [trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY, answer="x" * 5000 + "TAIL"))],
        DigestLimits(token_budget=100_000, answer_chars=300),
    )
    assert packed.text.count("x" * 300 + " [... 4704 more chars]") == 4 and "TAIL" not in packed.text


def fifty_rounds() -> list[dict[str, Any]]:
    """One paper's 50 failed rounds with long answers, and a second document's accepted round."""
    answer = "A long answer that reasons step by step. " * 40
    rounds = [round_row(n, RoundOutcome.TOO_EASY, answer=f"{answer} (round {n})") for n in range(1, 51)]
    return [trajectory("doc-a", *rounds),
            trajectory("doc-b", round_row(1, RoundOutcome.ACCEPTED), status="accepted")]  # fmt: skip


def test_rounds_that_do_not_fit_are_condensed_to_their_summary_never_left_out():
    rows = fifty_rounds()
    everything = pack_trajectories(rows, DigestLimits(token_budget=10_000_000))
    budget = estimate_tokens(everything.text) // 3
    packed = pack_trajectories(rows, DigestLimits(token_budget=budget))
    assert packed.tokens <= budget and packed.rounds_included == packed.rounds_total == 51
    # Every round is still there, with its item, scores and hits.
    for n in range(1, 51):
        assert f"[document doc-a, round {n}] outcome: too_easy" in packed.text
        assert f"Question {n}: which regime wins?" in packed.text
    # The accepted round went first; then doc-a's earliest rounds; its latest rounds stay whole.
    record = packed.packing()
    assert record["condensed"][-1] == {"doc_id": "doc-b", "round": 1, "outcome": "accepted", "level": "summary",
                                       "reason": "accepted"}  # fmt: skip
    summarised = [c["round"] for c in record["condensed"] if c["doc_id"] == "doc-a"]
    assert summarised == list(range(1, len(summarised) + 1)) and 0 < len(summarised) < 50
    assert "(round 50)" in packed.text and "(round 1)" not in packed.text
    assert "[document doc-a, round 1] outcome: too_easy (weak avg 0.60, strong avg 0.60) [summary" in packed.text
    assert "weak sample 0 (score 0.60, hits: c1)\n" in packed.text  # a summary keeps the scores, not the answer
    assert record["rounds_summarised"] == len(record["condensed"]) and record["rounds_as_lines"] == 0
    assert f"all 51 rounds are shown; to fit the token budget {len(record['condensed'])} to their summary" in packed.text


def test_a_tight_budget_condenses_every_round_to_one_line_under_its_document():
    packed = pack_trajectories(fifty_rounds(), DigestLimits(token_budget=2_500))
    assert packed.rounds_included == 51 and packed.condensed_to("line") > 0
    assert "  round 1: too_easy (weak 0.60, strong 0.60) Question 1: which regime wins?" in packed.text
    assert all(f"round {n}:" in packed.text or f"round {n}]" in packed.text for n in range(1, 51))
    assert "to one line each were condensed" in packed.text


def test_a_repeated_document_counts_once_the_last_row_wins():
    rows = [trajectory("doc-a", round_row(1, RoundOutcome.MODEL_ERROR)),
            trajectory("doc-a", round_row(1, RoundOutcome.TOO_EASY))]
    packed = pack_trajectories(rows)
    assert packed.rounds_total == 1 and packed.outcomes == {"too_easy": 1}
    assert packed.text.count("== document doc-a") == 1

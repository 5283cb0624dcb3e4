"""The science review step node by node: the winner that review pauses on is the one decide keeps, the payload's
counts in words, each decision as decide applies it, the round that scores an edited answer again, and the
reviewer's reason in the diagnosis prompt."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from langgraph.graph import END

from autodata.nodes.science.common import STRATEGIES
from autodata.nodes.science.decide import after_decide, decide, rank_round
from autodata.nodes.science.diagnosis import diagnose
from autodata.nodes.science.review import passed_by, science_payload
from autodata.nodes.science.round import round_sends, start_round
from autodata.nodes.shared.review import parse_decision, review_record
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import CandidateItem, RoundOutcome
from autodata.state.science import AnswerCheck, ScienceAttempt, ScienceCandidate, ScienceContext, ScienceState
from tests.support.science_script import ScienceScript, make_problem
from tests.support.scripted import scripted_provider


def runtime(**context: Any) -> SimpleNamespace:
    return SimpleNamespace(context=ScienceContext(**{"max_rounds": 2, "review": True, **context}))


def candidate(index: int, rank: int) -> ScienceCandidate:
    item = CandidateItem(question=f"Question {index}?", reference_answer="the Lorentz force")
    return ScienceCandidate(round=1, index=index, strategy=STRATEGIES[index], item=item, screen_rank=rank,
                            question_type="identify the law")  # fmt: skip


def evaluated(counts: dict[int, tuple[int, int]], **update: Any) -> ScienceState:
    """Round 1 after the answer checks: candidate i (screen rank i + 1) with counts[i] = (weak, strong) correct of 4."""
    screened = [candidate(i, rank=i + 1) for i in counts]
    attempts, checks = [], []
    for index, (weak, strong) in counts.items():
        for role, correct in (("weak", weak), ("strong", strong)):
            for n in range(4):
                right = n < correct
                attempts.append(ScienceAttempt(round=1, candidate=index, role=role, sample_index=n,
                                               answer="...", final_answer="the Lorentz force" if right else "gravity"))
                checks.append(AnswerCheck(round=1, candidate=index, role=role, sample_index=n, correct=right,
                                          decided_by="judge"))  # fmt: skip
    values = {"document": make_problem(), "round": 1, "candidates": screened, "screened": screened,
              "attempts": attempts, "checks": checks, **update}  # fmt: skip
    return ScienceState(**values)


def decided(state: ScienceState, value: Any, edited: ScienceCandidate | None = None) -> ScienceState:
    """The state after the review node recorded `value` on the round's winner."""
    decision = parse_decision(value)
    fields = [name for name in decision.edits]
    winner = rank_round(state, AcceptancePolicy()).winner
    reviewed = edited or winner
    return state.model_copy(update={"reviews": [review_record(decision, state.round, fields)], "reviewed": reviewed})


async def test_review_pauses_on_the_candidate_decide_keeps():
    state = evaluated({0: (1, 3), 1: (0, 4), 2: (2, 4)})
    ranking = rank_round(state, AcceptancePolicy())
    assert ranking.winner.index == 1 and [r.outcome for r in ranking.results] == [
        RoundOutcome.ACCEPTED, RoundOutcome.ACCEPTED, RoundOutcome.TOO_EASY]
    payload = science_payload(state, ranking, AcceptancePolicy())
    update = await decide(state, runtime(review=False))
    assert payload["question"] == update["accepted"].item.question == "Question 1?"
    assert update["status"] == "accepted" and update["rounds"][0].accepted_candidate == 1


def test_passed_by_gives_the_exact_counts_and_their_bounds():
    ranking = rank_round(evaluated({0: (1, 3)}), AcceptancePolicy())
    assert passed_by(ranking, AcceptancePolicy()) == (
        "weak 1 of 4 correct (at most 1 allowed), strong 3 of 4 (at least 3 needed)")
    strict = AcceptancePolicy(strong_min_correct_fraction=1.0, weak_max_correct_fraction=0.5)
    ranking = rank_round(evaluated({0: (2, 4)}), strict)
    assert passed_by(ranking, strict) == "weak 2 of 4 correct (at most 2 allowed), strong 4 of 4 (at least 4 needed)"


async def test_a_rejection_fails_the_round_for_the_diagnosis_to_close():
    state = decided(evaluated({0: (0, 4)}), {"decision": "reject", "reason": "two questions in one"})
    update = await decide(state, runtime())
    assert (update["outcome"], update["rule"]) == (RoundOutcome.FAILED_QUALITY_CHECK, "review")
    assert "status" not in update and "rounds" not in update  # the diagnosis closes it, with its instruction
    assert after_decide(state.model_copy(update=update)) == "diagnose"


async def test_an_approved_edit_of_the_question_is_kept_edited():
    state = evaluated({0: (0, 4)})
    winner = state.screened[0]
    edited = winner.model_copy(update={"item": winner.item.model_copy(update={"question": "Edited?"})})
    state = decided(state, {"decision": "edit", "edits": {"question": "Edited?"}}, edited)
    update = await decide(state, runtime())
    assert update["status"] == "accepted" and update["accepted_item"].question == "Edited?"
    assert update["rounds"][0].candidates[0].item.question == "Question 0?"  # the item as it was scored


async def test_an_edited_reference_answer_closes_the_round_and_the_next_one_scores_the_edited_item_only():
    state = evaluated({0: (1, 3), 1: (0, 4)}, candidates=[candidate(i, i + 1) for i in range(4)])
    winner = state.screened[1]
    edited = winner.model_copy(update={"item": winner.item.model_copy(update={"reference_answer": "qv x B"})})
    state = decided(state, {"decision": "edit", "edits": {"reference_answer": "qv x B"}}, edited)
    update = await decide(state, runtime(max_rounds=2))
    (closed,) = update["rounds"]
    assert (closed.round, closed.outcome, closed.rule, closed.accepted_candidate) == (
        1, RoundOutcome.FAILED_QUALITY_CHECK, "review_edit", None)
    assert (closed.weak_avg, closed.strong_avg) == (0.0, 1.0)  # the edited candidate's counts, not the top-ranked
    assert "status" not in update
    after = state.model_copy(update={k: v for k, v in update.items() if k != "rounds"})
    assert after_decide(after) == "start_round"

    started = await start_round(after, runtime(max_rounds=2))
    assert started["rule"] is None and started["reviewed"] is None and started["round"] == 2
    (only,) = started["screened"]
    assert (only.round, only.index, only.item.reference_answer, only.status) == (2, 1, "qv x B", "selected")
    next_round = after.model_copy(update={**started, "candidates": [*after.candidates, *started["candidates"]]})
    sends = round_sends(next_round, runtime(max_rounds=2))
    assert {send.node for send in sends} == {"solver"} and len(sends) == 8
    assert {send.arg.item.reference_answer for send in sends} == {"qv x B"}


async def test_an_edited_reference_answer_with_no_round_left_ends_exhausted():
    state = evaluated({0: (0, 4)})
    state = decided(state, {"decision": "edit", "edits": {"reference_answer": "qv x B"}})
    update = await decide(state, runtime(max_rounds=1))
    assert update["status"] == "exhausted" and update["rounds"][0].rule == "review_edit"
    assert after_decide(state.model_copy(update={"status": "exhausted"})) == END


async def test_the_diagnosis_prompt_shows_the_reviewers_reason_and_its_instruction_carries_it():
    reason = "the reference answer is a definition, not a derivation"
    state = decided(evaluated({0: (0, 4)}), {"decision": "reject", "reason": reason})
    state = state.model_copy(update=await decide(state, runtime()))
    script = ScienceScript(diagnosis="Ask for a derivation.")  # a reply that leaves the reason out
    update = await diagnose(state, runtime(), provider=scripted_provider(script))
    (prompt,) = script.calls["orchestrator"]
    assert f"<reviewer_reason>{reason}</reviewer_reason>" in prompt
    assert "A reviewer rejected Candidate 1 although its counts passed" in prompt
    (diagnosis,) = update["diagnoses"]
    assert diagnosis.startswith("Ask for a derivation.\n") and diagnosis.endswith(reason)
    assert update["rounds"][0].rule == "review" and update["rounds"][0].diagnosis == diagnosis


async def test_without_a_rejection_the_diagnosis_prompt_has_no_reviewer_part():
    state = evaluated({0: (3, 4)})
    state = state.model_copy(update=await decide(state, runtime()))
    script = ScienceScript()
    update = await diagnose(state, runtime(), provider=scripted_provider(script))
    assert "reviewer" not in script.calls["orchestrator"][0].lower()
    assert update["diagnoses"] == [script.diagnosis]

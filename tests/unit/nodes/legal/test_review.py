"""The legal review node's parts on a hand-built round: what the reviewer sees, what each decision leaves in the
state, and how `decide` closes the round on it; the writer's view of a round a reviewer rejected."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from autodata.nodes.legal.decide import close_round, decide
from autodata.nodes.legal.review import EDITABLE, applied, awaits_review, edited_round, legal_payload
from autodata.nodes.shared.review import Reviewed, edit_item, parse_decision, review_record
from autodata.rules.legal_diagnostics import build_packet, round_view
from autodata.state.legal import LegalContext, LegalItem, LegalState, LoopJudgeVerdict
from autodata.state.review import ReviewRecord
from autodata.state.schemas import AttemptScore, SolverAttempt
from tests.support.graph_script import make_document
from tests.support.legal_script import judge, legal_item

WEAK_SCORES, STRONG_SCORES = (0.2, 0.4, 0.3), (0.9, 0.8)


def accepted_round(**update: Any) -> LegalState:
    """Round 1 of a document as the loop judge leaves it when every acceptance check holds."""
    item = LegalItem.model_validate(legal_item())
    hits = [True] * 3 + [False] * (len(item.rubric) - 3)
    attempts, scores = [], []
    for role, values in (("weak", WEAK_SCORES), ("strong", STRONG_SCORES)):
        for index, score in enumerate(values):
            attempts.append(SolverAttempt(round=1, role=role, sample_index=index, answer=f"{role} answer {index}"))
            scores.append(AttemptScore(round=1, role=role, sample_index=index, score=score, criteria_hits=hits))
    packet = build_packet(item, attempts, scores, flags=[])
    state = LegalState(document=make_document(), round=1, item=item, attempts=attempts, scores=scores, packet=packet,
                       judge=LoopJudgeVerdict.model_validate(judge("accept")))  # fmt: skip
    return state.model_copy(update=update)


def runtime(**context: Any) -> SimpleNamespace:
    return SimpleNamespace(context=LegalContext(**{"max_improve_rounds": 1, "review": True, **context}))


def reviewed(state: LegalState, value: dict[str, Any]) -> Reviewed:
    decision = parse_decision(value)
    item, edited = edit_item(state.item, decision, EDITABLE)
    return Reviewed(decision, item, review_record(decision, state.round, edited))


def with_decision(state: LegalState, value: dict[str, Any]) -> LegalState:
    """The state after the review node applied `value` (the reducer adds the review record)."""
    update = applied(reviewed(state, value))
    return state.model_copy(update={**update, "reviews": [*state.reviews, *update["reviews"]]})


def test_the_payload_shows_the_item_its_samples_the_verdicts_and_the_rule_that_passed_it():
    state = accepted_round()
    payload = legal_payload(state, runtime().context)
    assert payload["document"] == "doc-1" and payload["round"] == 1 and payload["context"] == ""
    assert [s["score"] for s in payload["weak"]] == list(WEAK_SCORES)
    assert payload["strong"][1] == {"answer": "strong answer 1", "score": 0.8}
    assert payload["rubric"][-1]["weight_class"] == "negative" and payload["rubric"][0]["capability"]
    assert payload["gap"] == state.packet.gap and payload["weak_avg"] == state.packet.weak_avg
    assert "strong average 0.85 >= floor 0.30" in payload["passed_by"]
    assert all(v["passed"] for v in payload["verdicts"])


def test_only_a_round_that_would_be_accepted_awaits_review():
    ctx = runtime().context
    assert awaits_review(accepted_round(), ctx)
    assert not awaits_review(accepted_round(judge=LoopJudgeVerdict.model_validate(judge("improve", "More."))), ctx)
    assert not awaits_review(accepted_round(shape_violations=["rubric has 8 criteria"]), ctx)
    edited_before = ReviewRecord(round=1, decision="edit", edited_fields=["rubric"], needs_rescore=True)
    assert not awaits_review(accepted_round(round=2, reviews=[edited_before]), ctx)


async def test_decide_keeps_an_approved_item_and_its_review():
    state = with_decision(accepted_round(), {"decision": "approve"})
    update = await decide(state, runtime())
    assert update["status"] == "accepted" and update["accepted_item"] == state.item
    assert update["rounds"][0].outcome == "accepted"


async def test_decide_closes_a_rejected_round_as_a_failed_one_with_the_reviewers_reason():
    state = with_decision(accepted_round(), {"decision": "reject", "reason": "It asks two questions."})
    update = await decide(state, runtime())
    (closed,) = update["rounds"]
    assert (closed.outcome, closed.rule, closed.rule_reasons) == ("rejected_by_review", "review",
                                                                 ["It asks two questions."])  # fmt: skip
    assert "status" not in update  # an improve round is left: the writer goes on
    exhausted = await decide(state, runtime(max_improve_rounds=0))
    assert exhausted["status"] == "exhausted"


async def test_an_edited_rubric_closes_the_round_and_the_next_one_starts_with_the_edit_checked_in_code():
    rubric = [c.model_dump() for c in accepted_round().item.rubric][:12]  # under the 15 criteria the shape needs
    state = with_decision(accepted_round(), {"decision": "edit", "edits": {"rubric": rubric}})
    assert state.item.rubric != state.edited_item.rubric  # the round keeps the item its scores describe
    update = await decide(state, runtime())
    (closed,) = update["rounds"]
    assert (closed.outcome, closed.rule, len(closed.item.rubric)) == ("review_edit", "review_edit", 16)
    nxt = await edited_round(state.model_copy(update=update), runtime())
    assert (nxt["round"], len(nxt["item"].rubric), nxt["edited_item"], nxt["packet"]) == (2, 12, None, None)
    assert "rubric has 12 criteria; it needs 15-25" in nxt["shape_violations"]


def test_the_writer_sees_a_reviewers_rejection_apart_from_failed_code_checks():
    state = with_decision(accepted_round(), {"decision": "reject", "reason": "The amounts do not add up."})
    rejected = round_view(close_round(state, "rejected_by_review", [("review", "The amounts do not add up.")]))
    assert rejected["reviewer_reason"] == "The amounts do not add up." and rejected["rule_reasons"] == []
    overruled = round_view(close_round(state, "rejected_by_rule", [("legal_gap", "gap too small")]))
    assert overruled["reviewer_reason"] == "" and overruled["rule_reasons"] == ["gap too small"]

"""The legal graph pauses for a person where a round would be accepted (`review` in the context), and a resume
with approve, edit or reject carries the thread on: kept, kept edited, scored again with an edited rubric (no
writer call), or sent back to the writer with the reviewer's reason. Driven by scripted chat models."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from autodata.graphs.legal import build_legal, recursion_limit
from autodata.state.legal import LegalContext, LegalState
from tests.support.graph_script import make_document
from tests.support.legal_script import LegalScript, judge, legal_item
from tests.support.scripted import scripted_provider

QUESTION = "My landlord kept my whole $2,400 deposit after I moved out in May. Can he?"
SHARED_KEYS = {"document", "round", "question", "context", "reference_answer", "rubric", "weak", "strong", "verdicts",
               "policy", "passed_by", "editable", "answer_with"}  # fmt: skip


class Thread:
    """One legal thread on a checkpointer, with the script its models answer from."""

    def __init__(self, script: LegalScript, name: str, **context: Any) -> None:
        self.script = script
        self.graph = build_legal(scripted_provider(script)).compile(checkpointer=InMemorySaver())
        self.ctx = LegalContext(**{"weak_samples": 3, "strong_samples": 2, "max_improve_rounds": 1, "review": True,
                                   **context})  # fmt: skip
        limit = recursion_limit(self.ctx.max_improve_rounds)
        self.config = {"configurable": {"thread_id": name}, "recursion_limit": limit}

    async def start(self) -> dict[str, Any]:
        document = make_document("An opinion on security deposits.")
        return await self.graph.ainvoke({"document": document}, config=self.config, context=self.ctx)

    async def resume(self, value: Any) -> dict[str, Any]:
        return await self.graph.ainvoke(Command(resume=value), config=self.config, context=self.ctx)


def pause_of(result: dict[str, Any]) -> dict[str, Any]:
    (pause,) = result["__interrupt__"]
    return pause.value


def edited_rubric() -> list[dict[str, Any]]:
    """A well-formed rubric whose criteria read differently from the writer's."""
    rubric = legal_item()["rubric"]
    return [{**c, "criterion": c["criterion"].replace("Identifies point", "Applies edited point")} for c in rubric]


async def test_the_graph_pauses_only_where_the_round_would_be_accepted_with_what_a_reviewer_needs():
    script = LegalScript(verdicts=[judge("improve", suggestion="Add a second tenant."), judge("accept")])
    thread = Thread(script, "pause")
    payload = pause_of(await thread.start())
    assert payload["round"] == 2  # the improve round went on to the writer without a pause
    assert SHARED_KEYS <= set(payload) and payload["editable"] == ["question", "rubric"]
    assert (payload["question"], payload["context"], payload["reference_answer"]) == (QUESTION, "", "")
    assert {"criterion", "weight", "weight_class", "capability"} <= set(payload["rubric"][0])
    assert len(payload["weak"]) == 3 and len(payload["strong"]) == 2
    assert all({"answer", "score"} <= set(sample) for sample in payload["weak"] + payload["strong"])
    judge_verdict = payload["verdicts"][0]
    assert (judge_verdict["stage"], judge_verdict["verdict"], judge_verdict["grpo_suitability"]) == (
        "loop_judge", "accept", "high")  # fmt: skip
    held = {v["rule"] for v in payload["verdicts"] if v["stage"] == "acceptance"}
    assert held == {"legal_shape", "legal_strong_floor", "legal_gap", "legal_weak_spread"}
    assert payload["policy"]["acceptance"] == {"min_gap": 0.2, "strong_min_avg": 0.3, "weak_spread": True}
    assert payload["policy"]["shape"]["min_criteria"] == 15
    assert "loop judge accepted" in payload["passed_by"] and "gap" in payload["passed_by"]
    assert payload["strong_avg"] == 1.0 and payload["weak_std"] > 0 and payload["target_capabilities"]["primary"]
    snapshot = await thread.graph.aget_state(thread.config)
    assert snapshot.next == ("review",) and snapshot.values["rounds"][0].outcome == "improve"


async def test_a_round_a_code_check_overrules_is_not_shown_to_the_reviewer():
    def flat(answer: str, n: int) -> list[bool]:  # every weak sample earns the same: legal_weak_spread fails
        return [True] * (n - 1) + [False] if answer.startswith("strong") else [True] * 3 + [False] * (n - 3)

    thread = Thread(LegalScript(judge_hits=flat), "overruled", max_improve_rounds=0)
    result = await thread.start()
    assert "__interrupt__" not in result
    state = LegalState.model_validate(result)
    assert state.status == "exhausted" and [r.outcome for r in state.rounds] == ["rejected_by_rule"]


async def test_approve_keeps_the_item_with_its_review():
    thread = Thread(LegalScript(), "approve")
    await thread.start()
    state = LegalState.model_validate(await thread.resume({"decision": "approve", "reviewer": "ana"}))
    assert state.status == "accepted" and state.accepted_item.question == QUESTION
    assert [(r.decision, r.reviewer, r.round, r.edited_fields) for r in state.reviews] == [("approve", "ana", 1, [])]
    assert [r.outcome for r in state.rounds] == ["accepted"]


async def test_an_edit_of_the_question_keeps_the_edited_item_and_records_the_field():
    thread = Thread(LegalScript(), "question")
    await thread.start()
    edited = "My landlord kept my $2,400 deposit for repainting after a five-year lease. Can he?"
    state = LegalState.model_validate(await thread.resume({"decision": "edit", "edits": {"question": edited}}))
    assert state.status == "accepted" and state.accepted_item.question == edited
    assert state.accepted_item.rubric == state.rounds[0].item.rubric  # the rubric the round scored is kept
    (record,) = state.reviews
    assert record.edited_fields == ["question"] and not record.needs_rescore
    assert len(state.rounds) == 1 and len(thread.script.calls["writer"]) == 1


async def test_an_edited_rubric_is_scored_again_as_the_next_round_without_a_writer_call_nor_a_second_pause():
    script = LegalScript()
    thread = Thread(script, "rubric")
    await thread.start()
    judged_before, loop_judged_before = len(script.calls["judge"]), len(script.calls["loop_judge"])
    result = await thread.resume({"decision": "edit", "edits": {"rubric": edited_rubric()}, "reviewer": "bo"})
    assert "__interrupt__" not in result  # the reviewer already decided on this item
    state = LegalState.model_validate(result)
    assert state.status == "accepted"
    assert state.accepted_item.rubric[0].criterion == "Applies edited point 0 of the deposit rule"
    assert len(script.calls["writer"]) == 1  # no writer call for the re-scored round
    rescoring = script.calls["judge"][judged_before:]
    assert len(rescoring) == 5 and all("Applies edited point 0" in request for request in rescoring)
    assert "Applies edited point 0" in script.calls["loop_judge"][loop_judged_before]
    first, second = state.rounds
    assert (first.outcome, first.rule, second.outcome, second.round) == ("review_edit", "review_edit", "accepted", 2)
    assert first.item.rubric[0].criterion == "Identifies point 0 of the deposit rule"  # the round's own scores
    assert "scored again as round 2" in first.rule_reasons[0]
    assert [(r.decision, r.edited_fields, r.needs_rescore, r.round) for r in state.reviews] == [
        ("edit", ["rubric"], True, 1)]  # fmt: skip
    assert state.edited_item is None


async def test_an_edited_rubric_with_no_round_left_ends_the_document_exhausted():
    thread = Thread(LegalScript(), "rubric-last", max_improve_rounds=0)
    await thread.start()
    state = LegalState.model_validate(await thread.resume({"decision": "edit", "edits": {"rubric": edited_rubric()}}))
    assert state.status == "exhausted" and state.accepted_item is None
    (closed,) = state.rounds
    assert (closed.outcome, closed.rule) == ("review_edit", "review_edit")
    assert "no improve round left" in closed.rule_reasons[0]
    assert state.edited_item.rubric[0].criterion.startswith("Applies edited point")  # the reviewer's edit is kept


async def test_an_edited_rubric_that_breaks_the_shape_rules_goes_back_to_the_writer():
    script = LegalScript()
    thread = Thread(script, "rubric-shape")
    await thread.start()
    result = await thread.resume({"decision": "edit", "edits": {"rubric": edited_rubric()[:10]}})
    state = LegalState.model_validate(result)
    second = state.rounds[1]
    assert second.outcome == "rubric_shape" and "rubric has 10 criteria; it needs 15-25" in second.shape_violations
    assert state.status == "exhausted" and len(script.calls["writer"]) == 1  # no round left for the writer


async def test_a_rejection_reaches_the_writers_next_prompt_and_the_new_item_is_paused_again():
    reason = "The question gives away that the lease had no wear-and-tear clause."
    script = LegalScript(items=[legal_item(), legal_item("My employer kept my final paycheck. Can she?")])
    thread = Thread(script, "reject")
    await thread.start()
    result = await thread.resume({"decision": "reject", "reason": reason, "reviewer": "cy"})
    assert pause_of(result)["round"] == 2 and pause_of(result)["question"].startswith("My employer")
    state = LegalState.model_validate({k: v for k, v in result.items() if k != "__interrupt__"})
    (first,) = state.rounds
    assert (first.outcome, first.rule, first.rule_reasons) == ("rejected_by_review", "review", [reason])
    second_prompt = script.calls["writer"][1]
    assert reason in second_prompt and "person reviewing it rejected it" in second_prompt
    assert "checks every accepted item must also pass did not hold" not in second_prompt
    assert [(r.decision, r.reason) for r in state.reviews] == [("reject", reason)]


async def test_without_the_review_switch_the_graph_never_pauses():
    thread = Thread(LegalScript(), "off", review=False)
    result = await thread.start()
    assert "__interrupt__" not in result
    state = LegalState.model_validate(result)
    assert state.status == "accepted" and state.reviews == []


async def test_a_resume_value_that_is_not_a_decision_pauses_again_with_the_reason():
    thread = Thread(LegalScript(), "bad")
    await thread.start()
    no_reason = pause_of(await thread.resume({"decision": "reject"}))
    assert "needs a reason" in no_reason["error"] and no_reason["question"] == QUESTION
    foreign = pause_of(await thread.resume({"decision": "edit", "edits": {"reference_answer": "Yes."}}))
    assert "no reference_answer to edit" in foreign["error"]
    broken = [{"criterion": "Applies the rule", "weight": 9.0}]  # no capability or weight_class
    invalid = pause_of(await thread.resume({"decision": "edit", "edits": {"rubric": broken}}))
    assert "rubric" in invalid["error"] and "not valid" in invalid["error"]
    state = LegalState.model_validate(await thread.resume("approve"))
    assert state.status == "accepted" and [r.decision for r in state.reviews] == ["approve"]

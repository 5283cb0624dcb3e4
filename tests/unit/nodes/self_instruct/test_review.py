"""The review node pauses a thread with `interrupt()` where the loop would accept, and `Command(resume=...)` with
a reviewer's approve, edit or reject carries the thread on: kept as is, kept edited (the edit recorded), or
sent back to the orchestrator as a failed round with the reviewer's reason. First on a small graph around the
node, then on the real self-instruct graph with scripted models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from autodata.graphs.self_instruct import build_self_instruct, recursion_limit
from autodata.nodes.self_instruct.review import apply_decision, review
from autodata.nodes.shared.review import ReviewError, parse_decision
from autodata.state.context import RunContext
from autodata.state.schemas import AttemptScore, CandidateItem, QualityVerdict, RoundOutcome, SolverAttempt
from autodata.state.self_instruct import SelfInstructState
from tests.support.graph_script import GraphScript, make_document, rubric_item
from tests.support.scripted import scripted_provider


def reviewing(on: bool = True) -> RunContext:
    return RunContext(task="cs-research", max_rounds=1, review=on)


def candidate_state() -> dict[str, Any]:
    """A round that passed every check: two answers per solver, scored."""
    attempts = [SolverAttempt(round=1, role=role, sample_index=i, answer=f"{role} answer {i}")
                for role in ("weak", "strong") for i in range(2)]  # fmt: skip
    scores = [AttemptScore(round=1, role=role, sample_index=i, score=0.2 if role == "weak" else 0.9)
              for role in ("weak", "strong") for i in range(2)]  # fmt: skip
    return {"document": make_document(), "round": 1, "item": CandidateItem(**rubric_item("Why does dropout help?")),
            "attempts": attempts, "scores": scores, "quality": [QualityVerdict(passed=True)]}  # fmt: skip


def compiled():
    async def kept(state: SelfInstructState) -> dict[str, Any]:
        return {"status": "accepted", "accepted_item": state.item}

    async def orchestrator(state: SelfInstructState) -> dict[str, Any]:
        return {"status": "exhausted"}

    def after_review(state: SelfInstructState) -> str:
        return "orchestrator" if state.outcome is not None else "accept"

    builder = StateGraph(SelfInstructState, context_schema=RunContext)
    builder.add_node("review", review)
    builder.add_node("accept", kept)
    builder.add_node("orchestrator", orchestrator)
    builder.add_edge(START, "review")
    builder.add_conditional_edges("review", after_review, ["accept", "orchestrator"])
    builder.add_edge("accept", END)
    builder.add_edge("orchestrator", END)
    return builder.compile(checkpointer=InMemorySaver())


async def paused_thread(graph, thread: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = {"configurable": {"thread_id": thread}}
    result = await graph.ainvoke(candidate_state(), config=config, context=reviewing())
    (pause,) = result["__interrupt__"]
    return config, pause.value


async def test_the_thread_pauses_with_everything_a_reviewer_needs():
    graph = compiled()
    config, payload = await paused_thread(graph, "t-pause")
    assert payload["question"] == "Why does dropout help?"
    assert payload["reference_answer"] == "It trades bias for variance."
    assert payload["rubric"][0] == {"criterion": "mentions point 0", "weight": 1.0, "category": "positive"}
    assert [a["score"] for a in payload["weak"]] == [0.2, 0.2] and payload["strong"][1]["answer"] == "strong answer 1"
    assert [(v["passed"], v["stage"]) for v in payload["verdicts"]] == [(True, "initial")]
    snapshot = await graph.aget_state(config)
    assert snapshot.next == ("review",) and snapshot.interrupts[0].value == payload


async def test_approve_keeps_the_item_with_its_review():
    graph = compiled()
    config, _ = await paused_thread(graph, "t-approve")
    result = await graph.ainvoke(Command(resume={"decision": "approve", "reviewer": "ana"}), config=config,
                                 context=reviewing())  # fmt: skip
    assert result["status"] == "accepted" and result["accepted_item"].question == "Why does dropout help?"
    (record,) = result["reviews"]
    assert (record.decision, record.reviewer, record.edited_fields, record.round) == ("approve", "ana", [], 1)


async def test_an_edit_of_the_question_keeps_the_edited_item_and_records_the_field():
    graph = compiled()
    config, _ = await paused_thread(graph, "t-edit")
    edits = {"question": "Why does dropout reduce overfitting?", "context": "A small labelled dataset."}
    result = await graph.ainvoke(Command(resume={"decision": "edit", "edits": edits, "reviewer": "bo"}), config=config,
                                 context=reviewing())  # fmt: skip
    kept = result["accepted_item"]
    assert (kept.question, kept.context) == (edits["question"], edits["context"])
    (record,) = result["reviews"]
    assert record.edited_fields == ["context", "question"] and not record.needs_rescore and record.reviewer == "bo"


def test_an_edited_answer_starts_the_next_round_with_the_edited_item_and_closes_this_one():
    state = SelfInstructState(**candidate_state())
    decision = parse_decision({"decision": "edit", "edits": {"reference_answer": "It averages thinned nets."}})
    update = apply_decision(state, decision, max_rounds=3)
    assert update["round"] == 2 and update["item"].reference_answer == "It averages thinned nets."
    assert update["quality"] == [] and update["outcome"] is None and "status" not in update
    (closed,) = update["rounds"]
    assert (closed.round, closed.outcome, closed.rule) == (1, RoundOutcome.FAILED_QUALITY_CHECK, "review_edit")
    assert closed.item.reference_answer == "It trades bias for variance." and len(closed.scores) == 4
    assert update["reviews"][0].needs_rescore


def test_an_edited_rubric_with_no_round_left_ends_the_document_exhausted():
    state = SelfInstructState(**candidate_state())
    rubric = [{"criterion": "names model averaging", "weight": 1.0, "category": "positive"}]
    update = apply_decision(state, parse_decision({"decision": "edit", "edits": {"rubric": rubric}}), max_rounds=1)
    assert update["status"] == "exhausted" and "round" not in update
    assert "no round left to score it again" in update["rounds"][0].quality[-1].reasons[0]


async def test_reject_sends_the_reason_to_the_orchestrator_as_a_failed_round():
    graph = compiled()
    config, _ = await paused_thread(graph, "t-reject")
    result = await graph.ainvoke(Command(resume={"decision": "reject", "reason": "the answer is in the context"}),
                                 config=config, context=reviewing())  # fmt: skip
    assert result["status"] == "exhausted" and result["outcome"] is RoundOutcome.FAILED_QUALITY_CHECK
    assert result["quality"][-1].reasons == ["a reviewer rejected the item: the answer is in the context"]
    assert result["reviews"][0].reason == "the answer is in the context"


async def test_without_the_review_switch_the_node_passes_the_item_on():
    graph = compiled()
    result = await graph.ainvoke(candidate_state(), config={"configurable": {"thread_id": "t-off"}},
                                 context=reviewing(False))  # fmt: skip
    assert result["status"] == "accepted" and "__interrupt__" not in result and not result.get("reviews")


@pytest.mark.parametrize(
    "value, message",
    [({"decision": "reject"}, "needs a reason"), ({"decision": "edit", "edits": {"score": 1}}, r"got \['score'\]"),
     ({"decision": "maybe"}, "not a review decision")],
)  # fmt: skip
def test_a_resume_value_that_is_not_a_decision_is_refused_with_a_reason(value, message):
    with pytest.raises(ReviewError, match=message):
        parse_decision(value)


def test_an_unchanged_edit_records_nothing_and_needs_no_rescore():
    state = SelfInstructState(**candidate_state())
    update = apply_decision(state, parse_decision({"decision": "edit", "edits": {"question": state.item.question}}),
                            now=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    (record,) = update["reviews"]
    assert record.edited_fields == [] and not record.needs_rescore and record.at == "2026-01-01T00:00:00+00:00"


# -- the self-instruct graph ---------------------------------------------------------------------------------


async def real_graph_paused(thread: str, max_rounds: int = 1):
    question = "Which scheduler degrades more gracefully under load?"
    graph = build_self_instruct(scripted_provider(GraphScript(items=[rubric_item(question)]))).compile(
        checkpointer=InMemorySaver()
    )
    ctx = RunContext(task="cs-research", max_rounds=max_rounds, review=True)
    config = {"configurable": {"thread_id": thread}, "recursion_limit": recursion_limit(max_rounds)}
    result = await graph.ainvoke({"document": make_document()}, config=config, context=ctx)
    return graph, config, ctx, result


async def test_the_self_instruct_graph_pauses_where_it_would_accept_and_keeps_an_approved_item():
    graph, config, ctx, result = await real_graph_paused("real-approve")
    (pause,) = result["__interrupt__"]
    assert pause.value["question"] == "Which scheduler degrades more gracefully under load?"
    assert len(pause.value["weak"]) == len(pause.value["strong"]) > 0 and pause.value["policy"]["preset"]
    assert {v["stage"] for v in pause.value["verdicts"]} >= {"initial", "end_filter"}  # every check passed it
    done = SelfInstructState.model_validate(
        await graph.ainvoke(Command(resume={"decision": "approve", "reviewer": "ana"}), config=config, context=ctx)
    )
    assert done.status == "accepted" and done.accepted_item.question == pause.value["question"]
    assert [(r.decision, r.reviewer) for r in done.reviews] == [("approve", "ana")]


async def test_a_rejection_in_the_self_instruct_graph_is_a_failed_round_with_the_reviewers_reason():
    graph, config, ctx, _ = await real_graph_paused("real-reject")
    done = SelfInstructState.model_validate(
        await graph.ainvoke(Command(resume={"decision": "reject", "reason": "two questions in one"}), config=config,
                            context=ctx)
    )
    assert done.status == "exhausted" and done.accepted_item is None  # one round: the budget is spent
    (last,) = done.rounds
    assert last.outcome is RoundOutcome.FAILED_QUALITY_CHECK and last.rule == "review"
    assert "a reviewer rejected the item: two questions in one" in last.feedback.details


async def test_an_edited_answer_is_scored_again_as_the_next_round_and_kept_without_a_second_pause():
    graph, config, ctx, _ = await real_graph_paused("real-edit", max_rounds=2)
    edits = {"reference_answer": "Under load the lottery scheduler keeps every class progressing."}
    done = SelfInstructState.model_validate(
        await graph.ainvoke(Command(resume={"decision": "edit", "edits": edits}), config=config, context=ctx)
    )
    assert done.status == "accepted" and done.accepted_item.reference_answer == edits["reference_answer"]
    first, second = done.rounds
    assert (first.rule, second.outcome) == ("review_edit", RoundOutcome.ACCEPTED)
    assert second.item.reference_answer == edits["reference_answer"] and second.scores  # scored again
    assert len(done.attempts_for("weak", 2)) > 0
    assert [(r.decision, r.edited_fields, r.round) for r in done.reviews] == [("edit", ["reference_answer"], 1)]

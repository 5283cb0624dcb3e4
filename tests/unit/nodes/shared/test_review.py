"""The review core every graph shares: a resume value that is not a decision this graph can apply pauses the
thread again with the reason (never an error), edits are checked as the item's own type, and the switch is read
from any graph's context."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel

from autodata.nodes.shared.review import (
    ReviewError,
    ask_reviewer,
    edit_item,
    parse_decision,
    rescoring_an_edit,
    review_enabled,
    review_payload,
)
from autodata.state.legal import LegalContext
from autodata.state.review import ReviewRecord
from autodata.state.schemas import CandidateItem, RubricCriterion
from autodata.state.science import ScienceContext


class Item(BaseModel):
    question: str
    rubric: list[RubricCriterion] = []


class ReviewedState(BaseModel):
    item: Item
    decision: str = ""
    edited: list[str] = []


def graph():
    def review(state: ReviewedState) -> dict[str, Any]:
        payload = review_payload(document="d", round_=1, question=state.item.question, weak=[], strong=[],
                                 passed_by="a test")  # fmt: skip
        reviewed = ask_reviewer(payload, state.item, ("question", "rubric"), 1)
        return {"item": reviewed.item, "decision": reviewed.decision.decision, "edited": reviewed.record.edited_fields}

    builder = StateGraph(ReviewedState)
    builder.add_node("review", review)
    builder.add_edge(START, "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=InMemorySaver())


async def test_a_value_that_is_no_decision_pauses_again_with_the_reason_and_a_good_one_then_applies():
    compiled, config = graph(), {"configurable": {"thread_id": "t"}}
    first = await compiled.ainvoke({"item": Item(question="Why?")}, config=config)
    (pause,) = first["__interrupt__"]
    assert pause.value["editable"] == ["question", "rubric"] and "error" not in pause.value
    again = await compiled.ainvoke(Command(resume={"decision": "reject"}), config=config)
    (second,) = again["__interrupt__"]
    assert "needs a reason" in second.value["error"] and second.id != pause.id
    foreign = await compiled.ainvoke(Command(resume={"decision": "edit", "edits": {"reference_answer": "x"}}),
                                     config=config)  # fmt: skip
    assert "no reference_answer to edit" in foreign["__interrupt__"][0].value["error"]
    done = await compiled.ainvoke(Command(resume={"decision": "edit", "edits": {"question": "Why not?"}}),
                                  config=config)  # fmt: skip
    assert (done["decision"], done["item"].question, done["edited"]) == ("edit", "Why not?", ["question"])


def test_an_edited_rubric_is_validated_as_the_items_own_criteria():
    item = CandidateItem(question="q", reference_answer="a")
    with pytest.raises(ReviewError, match="rubric"):
        edit_item(item, parse_decision({"decision": "edit", "edits": {"rubric": [{"weight": "heavy"}]}}),
                  ("question", "reference_answer", "rubric"))  # fmt: skip
    rubric = [{"criterion": "names the trade-off", "weight": 2.0}]
    edited, fields = edit_item(item, parse_decision({"decision": "edit", "edits": {"rubric": rubric}}), ("rubric",))
    assert fields == ["rubric"] and isinstance(edited.rubric[0], RubricCriterion) and item.rubric == []


@pytest.mark.parametrize(
    "context, expected",
    [(None, False), ({"review": True}, True), ({"task": "legal", "review": False}, False),
     (LegalContext(review=True), True), (ScienceContext(), False)],
)  # fmt: skip
def test_the_review_switch_is_read_from_any_graphs_context(context, expected):
    assert review_enabled(SimpleNamespace(context=context)) is expected


def test_only_the_round_after_an_answer_or_rubric_edit_is_a_rescore():
    edit = ReviewRecord(round=2, decision="edit", edited_fields=["rubric"], needs_rescore=True)
    assert rescoring_an_edit([edit], 3) and not rescoring_an_edit([edit], 4) and not rescoring_an_edit([], 3)
    question_only = ReviewRecord(round=2, decision="edit", edited_fields=["question"])
    assert not rescoring_an_edit([question_only], 3)

"""What the LangSmith hooks make of a run's inputs and outputs: node runs compact, model calls whole."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from langgraph.types import Send

from autodata.llm import tracing
from autodata.state.schemas import AttemptScore
from autodata.state.self_instruct import SelfInstructState, SolveTask
from tests.support.graph_script import make_document, rubric_item

PAPER = "A paper about regularisation. " * 400


def state_in_round(round_: int) -> SelfInstructState:
    scores = [
        AttemptScore(round=r, role="weak", sample_index=i, score=0.5, criteria_hits=[True]) for r in range(1, round_ + 1)
        for i in range(2)
    ]  # fmt: skip
    return SelfInstructState(document=make_document(PAPER), round=round_, item=rubric_item("Why?"), scores=scores)


def test_a_node_run_refers_to_the_document_instead_of_carrying_it():
    state = state_in_round(1)
    shown = tracing.hide_inputs({"input": state})["input"]
    assert shown["document"] == {
        "doc_id": "doc-1", "path": "fixtures/doc-1.md", "title": "Regularisation", "sha256": state.document.content_hash,
        "span": (0, len(PAPER)), "total_chars": len(PAPER), "chars": len(PAPER),
    }  # fmt: skip
    assert shown["item"]["question"] == "Why?" and shown["round"] == 1
    assert state.document.text == PAPER, "the state itself is untouched"


def test_a_node_run_shows_only_this_rounds_records_and_counts_the_rest():
    state = state_in_round(3)
    shown = tracing.hide_inputs({"input": state})["input"]
    assert [(s["round"], s["sample_index"]) for s in shown["scores"]] == [(3, 0), (3, 1)]
    assert shown["earlier_rounds_left_out"] == {"scores": 4}
    assert len(state.scores) == 6
    # A node's outputs are what it wrote, whole.
    assert len(tracing.hide_outputs({"scores": state.scores})["scores"]) == 6


def test_a_send_shows_its_node_and_payload_without_the_document():
    task = SolveTask(role="weak", sample_index=2, round=1, item=rubric_item("Why?"), document=make_document(PAPER))
    shown = tracing.hide_outputs({"output": [Send("weak_solver", task)]})["output"][0]
    assert shown["send"] == "weak_solver" and shown["arg"]["sample_index"] == 2
    assert "text" not in shown["arg"]["document"]


def test_long_strings_in_node_runs_keep_a_head_and_name_their_length():
    shown = tracing.hide_outputs({"answer": "x" * 10_000})["answer"]
    assert shown.startswith("x" * tracing.TEXT_HEAD_CHARS) and "10,000 chars in all" in shown
    assert len(shown) < 2 * tracing.TEXT_HEAD_CHARS


def test_model_call_runs_keep_their_whole_prompt_and_reply():
    inputs = {"messages": [[HumanMessage(PAPER)]]}
    assert tracing.hide_inputs(inputs) is inputs
    outputs = {"generations": [[{"text": PAPER}]], "llm_output": None}
    assert tracing.hide_outputs(outputs) is outputs


def test_model_calls_are_named_by_step_and_sample():
    assert tracing.model_run_name("challenger", {"round": 2}) == "challenger"
    assert tracing.model_run_name("weak", {"sample": 2}) == "weak_solver[2]"
    assert tracing.model_run_name("judge", {"sample": 0, "graded": "strong"}) == "judge[strong 0]"
    assert tracing.model_run_name("challenger", {"candidate": 1}) == "challenger[1]"


def test_nothing_is_installed_with_tracing_off(monkeypatch):
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setattr(tracing, "_installed", None)
    assert tracing.install() is None
    tracing.flush()  # nothing to send, returns at once

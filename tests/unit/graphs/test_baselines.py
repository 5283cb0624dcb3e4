"""The baseline graphs (CoT-Self-Instruct, Self-Instruct), driven by scripted chat models."""

from __future__ import annotations

from typing import Any

import pytest

from autodata.graphs.baselines import RECURSION_LIMIT, build_baseline
from autodata.llm.models import ModelCallFailed
from autodata.state.baselines import BaselineContext, BaselineState
from autodata.state.schemas import RoundOutcome
from autodata.tasks import task_spec
from tests.support.graph_script import GraphScript, default_judge_hits, make_document, rubric_item
from tests.support.scripted import scripted_provider

REASONING = "The paper says dropout zeroes activations; a question about why it regularises needs two steps."


def cot(item: dict[str, Any]) -> dict[str, Any]:
    return {"reasoning": REASONING, **item}


async def run_baseline(script: GraphScript, method: str, task: str = "cs-research", **context: Any):
    provider = scripted_provider(script)
    ctx = BaselineContext(task=task, family=task_spec(task).family, **{"samples": 4, **context})
    raw = await build_baseline(method, provider).compile().ainvoke(
        {"document": make_document()}, context=ctx, config={"recursion_limit": RECURSION_LIMIT}
    )
    return BaselineState.model_validate(raw)


def roles_of(state: BaselineState, round_: int = 1) -> list[str]:
    return sorted(a.role for a in state.rounds[0].attempts if a.round == round_)


async def test_self_instruct_scores_the_item_once_and_meets_the_policy():
    script = GraphScript(items=[rubric_item("Why does dropout reduce overfitting?")])
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and state.meets_policy
    assert state.method == "self-instruct" and state.reasoning == ""
    [record] = state.rounds
    assert record.outcome is RoundOutcome.ACCEPTED
    assert record.weak_avg == pytest.approx(2 / 7) and record.strong_avg == pytest.approx(6 / 7)
    assert roles_of(state) == ["strong"] * 4 + ["weak"] * 4
    # The quality verifier's role serves the in-loop check and the end-of-loop filter: one call each.
    assert len(script.calls["challenger"]) == 1 and len(script.calls["quality_verifier"]) == 2
    assert state.usage["judge"].calls == 8
    assert "orchestrator" not in script.calls  # no feedback loop
    assert "reason step by step" not in script.calls["challenger"][0]


async def test_cot_self_instruct_reasons_before_writing_the_item():
    script = GraphScript(items=[cot(rubric_item("Why does dropout reduce overfitting?"))])
    state = await run_baseline(script, "cot-self-instruct")
    assert state.status == "kept" and state.meets_policy
    assert state.reasoning == REASONING
    assert state.accepted_item.question == "Why does dropout reduce overfitting?"
    assert "reason step by step in `reasoning`" in script.calls["challenger"][0]
    # Rubric tasks have no answer-consistency filter: the strong solver ran only for scoring.
    assert state.consistency is None and state.usage["strong"].calls == 4


async def test_too_easy_item_is_kept_scored_by_both_solvers_and_fails_the_policy():
    script = GraphScript(items=[rubric_item("Easy?")], judge_hits=lambda answer, n: [True] * (n - 1) + [False])
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and not state.meets_policy
    assert state.rounds[0].outcome is RoundOutcome.TOO_EASY and state.rounds[0].rule == "weak_avg_ceiling"
    # Unlike the agentic loop, the strong solver still runs, so both averages exist.
    assert state.rounds[0].weak_avg == pytest.approx(5 / 7) and state.rounds[0].strong_avg == pytest.approx(5 / 7)


async def test_failed_quality_check_is_recorded_but_the_item_is_still_scored():
    script = GraphScript(
        items=[rubric_item("What year was it published?")],
        quality=lambda text: {"passed": False, "reasons": ["asks for recall, not reasoning"]},
    )
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and not state.meets_policy
    assert state.rounds[0].outcome is RoundOutcome.FAILED_QUALITY_CHECK
    reasons = state.rounds[0].quality[0].reasons
    assert reasons == ["verifier: question: RECALL", "verifier: asks for recall, not reasoning"]
    assert state.rounds[0].strong_avg == pytest.approx(6 / 7)


async def test_a_failed_quality_check_outranks_unscorable_attempts_as_in_the_loop():
    # The loop never scores an item that failed its quality check, so that is the outcome to record.
    script = GraphScript(
        items=[rubric_item("Q?")],
        quality=lambda text: {"passed": False, "reasons": ["generic"]},
        judge_hits=lambda answer, n: [True],  # wrong length: the attempts cannot be scored
    )
    state = await run_baseline(script, "self-instruct")
    assert state.rounds[0].outcome is RoundOutcome.FAILED_QUALITY_CHECK
    assert state.rounds[0].error == "some weak attempts could not be scored"


async def test_malformed_quality_verifier_output_is_a_model_error():
    script = GraphScript(items=[rubric_item("Q?")], quality=lambda text: {"bogus": 1})
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and state.rounds[0].outcome is RoundOutcome.MODEL_ERROR


async def test_an_endpoint_failure_stops_the_document_as_in_the_loop():
    def quality(text):
        raise ConnectionError("connection refused")

    with pytest.raises(ModelCallFailed) as raised:
        await run_baseline(GraphScript(items=[rubric_item("Q?")], quality=quality), "self-instruct")
    assert raised.value.role == "quality_verifier"


async def test_strong_failure_is_recorded_as_failed_on_strong():
    script = GraphScript(items=[rubric_item("Too hard?")], judge_hits=lambda answer, n: default_judge_hits("", n))
    state = await run_baseline(script, "self-instruct")
    assert state.rounds[0].outcome is RoundOutcome.FAILED_ON_STRONG and not state.meets_policy


async def test_malformed_generator_output_yields_no_item():
    script = GraphScript(items=[{"not_a_field": "garbage"}])
    state = await run_baseline(script, "cot-self-instruct")
    assert state.status == "no_item" and state.item is None
    assert state.rounds[0].outcome is RoundOutcome.MODEL_ERROR
    assert "challenger: " in state.rounds[0].error and "Error" in state.rounds[0].error
    assert set(script.calls) == {"challenger"}


async def test_a_generator_endpoint_failure_stops_the_document():
    with pytest.raises(ModelCallFailed, match="connection refused"):
        await run_baseline(GraphScript(items=[ConnectionError("connection refused")]), "cot-self-instruct")


PROBLEM = {"question": "What is 17 + 25?", "reference_answer": "42"}


def answers(strong: str, weak: str = "Final answer: 7"):
    return lambda role, question: strong if role == "strong" else weak


async def test_answer_consistency_filter_keeps_a_consistent_item():
    script = GraphScript(items=[cot(PROBLEM)], solver=answers("Final answer: 42.0"))
    state = await run_baseline(script, "cot-self-instruct", task="science", consistency_samples=3)
    assert state.consistency.agrees and state.consistency.majority_votes == 3
    assert len(state.consistency_attempts) == 3
    assert state.status == "kept" and state.meets_policy
    # K = 3 filter samples plus k = 4 scoring samples, kept apart.
    assert state.usage["strong"].calls == 7 and roles_of(state) == ["strong"] * 4 + ["weak"] * 4


async def test_answer_consistency_filter_drops_an_inconsistent_item():
    strong = iter(["Final answer: 41", "Final answer: 42", "Final answer: 41", "Final answer: 41"])
    script = GraphScript(items=[cot(PROBLEM)], solver=lambda role, q: next(strong))
    state = await run_baseline(script, "cot-self-instruct", task="science", consistency_samples=4)
    assert state.status == "dropped" and not state.meets_policy and state.accepted_item is None
    assert state.consistency.majority_answer == "41" and state.consistency.majority_votes == 3
    assert not state.consistency.agrees
    [record] = state.rounds
    assert record.outcome is RoundOutcome.FAILED_QUALITY_CHECK
    assert "majority answer '41' (3/4 samples) disagrees with the generated answer '42'" in record.quality[0].reasons[0]
    # A dropped item is neither quality-checked nor scored.
    assert "weak" not in script.calls and "quality_verifier" not in script.calls and record.attempts == []


async def test_self_instruct_has_no_answer_consistency_filter():
    script = GraphScript(items=[PROBLEM], solver=answers("Final answer: 41"))
    state = await run_baseline(script, "self-instruct", task="science")
    assert state.consistency is None and state.status == "kept"
    assert state.rounds[0].outcome is RoundOutcome.FAILED_ON_STRONG
    assert state.usage["strong"].calls == 4

"""The legal reasoning graph (METHOD.md section 3), driven by scripted chat models."""

from __future__ import annotations

import pytest

from autodata.graphs.legal import build_legal, recursion_limit
from autodata.llm.models import ModelCallFailed
from autodata.state.legal import LegalContext, LegalState
from tests.support.graph_script import make_document
from tests.support.legal_script import UNSUITABLE, LegalScript, judge, legal_item
from tests.support.scripted import scripted_provider


async def run_legal(script: LegalScript, **context) -> tuple[LegalState, object]:
    provider = scripted_provider(script)
    ctx = LegalContext(**{"weak_samples": 5, "strong_samples": 3, "max_improve_rounds": 2, **context})
    graph = build_legal(provider).compile()
    raw = await graph.ainvoke(
        {"document": make_document("An opinion on security deposits.")}, context=ctx,
        config={"recursion_limit": recursion_limit(ctx.max_improve_rounds)},
    )  # fmt: skip
    return LegalState.model_validate(raw), provider


def model_calls(provider) -> int:
    return sum(len(provider.chat_model(role).calls) for role in ("orchestrator", "challenger", "quality_verifier",
                                                                  "weak", "strong", "judge"))  # fmt: skip


async def test_accepted_round_keeps_every_judge_field_and_the_default_sample_counts():
    script = LegalScript()
    state, provider = await run_legal(script)
    assert state.status == "accepted" and len(state.rounds) == 1
    record = state.rounds[0]
    assert record.outcome == "accepted"
    assert len([a for a in record.attempts if a.role == "weak"]) == 5
    assert len([a for a in record.attempts if a.role == "strong"]) == 3
    assert record.judge.model_dump() == judge()
    assert record.strong_avg == 1.0 and 0.0 < record.weak_avg < 1.0
    assert record.packet.post_filter_flags == [] and record.packet.weak_valid == 5
    assert len(script.calls["extractor"]) == 1 and state.usage["judge"].calls == 8


async def test_unsuitable_document_is_skipped_after_exactly_one_model_call():
    script = LegalScript(extract=dict(UNSUITABLE))
    state, provider = await run_legal(script)
    assert state.status == "skipped" and state.skip_reason == "A bare docket order."
    assert model_calls(provider) == 1
    assert state.rounds == [] and state.usage["challenger"].calls == 1


POST_FILTER_CASES = {
    "body_length": "My landlord kept the deposit. " + "Here is more detail about the flat. " * 30,
    "case_recap": "The trial court held that my landlord could keep my deposit. Was that right?",
    "exam_prompt": "You are an attorney. My landlord kept my $900 deposit; can he?",
    "old_year": "My great-grandfather rented a flat in 1921 and the landlord kept his deposit. Could he?",
}


@pytest.mark.parametrize("family", sorted(POST_FILTER_CASES))
async def test_post_filter_overrides_an_accept(family):
    script = LegalScript(items=[legal_item(POST_FILTER_CASES[family])], verdicts=[judge("accept")])
    state, _ = await run_legal(script, max_improve_rounds=0)
    assert state.status == "exhausted" and state.accepted_item is None
    record = state.rounds[0]
    assert record.outcome == "post_filter"
    assert record.judge.verdict == "accept"  # the judge's own verdict is kept on the round
    assert any(flag.startswith(family) for flag in record.packet.post_filter_flags)


async def test_improve_is_never_turned_into_acceptance_even_with_ideal_scores():
    script = LegalScript(
        verdicts=[judge("improve", suggestion="Add a second tenant.", suitability="low")],
        judge_hits=lambda answer, n: [answer.startswith("strong")] * (n - 1) + [False],
    )
    state, _ = await run_legal(script, max_improve_rounds=2)
    assert state.status == "exhausted" and state.accepted_item is None
    assert [r.outcome for r in state.rounds] == ["improve"] * 3
    assert all(r.weak_avg == 0.0 and r.strong_avg == 1.0 for r in state.rounds)


async def test_round_two_writer_gets_round_one_question_and_judge_suggestion_verbatim():
    first = "My landlord kept my whole $2,400 deposit after I moved out on 3 May 2024. Can he?"
    suggestion = "Make the tenant's early termination under a lease clause the pivot; drop criterion 4."
    script = LegalScript(
        items=[legal_item(first), legal_item("A second question?")],
        verdicts=[judge("improve", suggestion=suggestion), judge("accept")],
    )
    state, _ = await run_legal(script)
    assert [r.outcome for r in state.rounds] == ["improve", "accepted"]
    second_request = script.calls["writer"][1]
    assert first in second_request and suggestion in second_request
    assert "weak samples 0 and 2 missed the wear exception" in second_request  # the judge's analysis
    assert first not in script.calls["writer"][0]
    assert len(script.calls["extractor"]) == 1  # the improve round reused the extract


async def test_rubric_shape_violations_are_rejections_with_reasons():
    bad = legal_item(n=8, negatives=0)
    bad["rubric"][0]["weight"] = 2.0  # a critical criterion below +8
    script = LegalScript(items=[bad, legal_item()])
    state, provider = await run_legal(script)
    first = state.rounds[0]
    assert first.outcome == "rubric_shape" and first.attempts == []
    assert "rubric has 8 criteria; it needs 15-25" in first.shape_violations
    assert "rubric has no negative criterion; it needs at least one" in first.shape_violations
    assert any("criterion 1: weight 2 is outside the critical range 8..10" in r for r in first.shape_violations)
    assert "rubric has 8 criteria; it needs 15-25" in script.calls["writer"][1]
    assert state.status == "accepted" and len(state.rounds) == 2


async def test_an_endpoint_failure_of_the_loop_judge_stops_the_document_instead_of_deciding():
    # Model failures raise: the document is retried from its checkpoint on the next run.
    script = LegalScript(verdicts=[ConnectionError("refused"), judge("accept")])
    with pytest.raises(ModelCallFailed, match="refused"):
        await run_legal(script, max_improve_rounds=0)


async def test_a_verdict_still_malformed_after_the_re_asks_is_a_model_error_round_not_an_acceptance():
    script = LegalScript(verdicts=[judge("improve", suggestion="")])  # improve without a suggestion, every time
    state, _ = await run_legal(script, max_improve_rounds=0)
    assert state.status == "exhausted" and state.accepted_item is None
    assert state.rounds[0].outcome == "model_error" and "loop judge" in state.rounds[0].error


async def test_an_extract_still_malformed_after_the_re_asks_ends_the_document_as_a_model_error():
    script = LegalScript(extract={"document_type": "opinion"})  # no suitability decision
    state, _ = await run_legal(script)
    assert state.status == "exhausted" and state.item is None and "writer" not in script.calls
    assert [r.outcome for r in state.rounds] == ["model_error"] and "extractor" in state.rounds[0].error


async def test_improve_without_a_suggestion_is_malformed_and_re_asked():
    script = LegalScript(verdicts=[judge("improve", suggestion=""), judge("accept")])
    state, provider = await run_legal(script)
    assert state.status == "accepted" and len(state.rounds) == 1
    assert len(script.calls["loop_judge"]) == 2


async def test_a_plain_dict_context_as_the_langgraph_api_sends_it_works():
    script = LegalScript()
    provider = scripted_provider(script)
    raw = await build_legal(provider).compile().ainvoke(
        {"document": make_document("An opinion.")}, context={"weak_samples": 2, "strong_samples": 1},
        config={"recursion_limit": recursion_limit(15)},
    )  # fmt: skip
    state = LegalState.model_validate(raw)
    assert state.status == "accepted"
    assert [a.role for a in state.rounds[0].attempts].count("weak") == 2
    assert "solver_legal" not in script.calls["weak"][0] and "experienced lawyer" in script.calls["weak"][0]


# -- an accept counts only when the code checks hold too --------------------------------------------------------


def request_texts(script: LegalScript, key: str) -> list[str]:
    return script.calls.get(key, [])


@pytest.mark.parametrize(
    ("judge_hits", "rule"),
    [(lambda answer, n: [True] * (n - 1) + [False] if answer.startswith("strong") else [True] * 3 + [False] * (n - 3),
      "legal_weak_spread"),  # every weak sample earns the same
     (lambda answer, n: [index < 3 + answer.endswith("#1") for index in range(n)], "legal_strong_floor"),
     (lambda answer, n: [index < (12 if answer.startswith("strong") else 11 - answer.endswith("#1"))
                         for index in range(n)], "legal_gap")],
)  # fmt: skip
async def test_a_loop_judge_accept_is_overruled_when_a_code_check_fails(judge_hits, rule):
    script = LegalScript(verdicts=[judge("accept")], judge_hits=judge_hits)
    state, _ = await run_legal(script, max_improve_rounds=1)
    assert state.status == "exhausted" and state.accepted_item is None
    first = state.rounds[0]
    assert (first.outcome, first.rule, first.judge.verdict) == ("rejected_by_rule", rule, "accept")
    assert first.rule_reasons
    # The writer's improve round is told why the accept did not count.
    assert first.rule_reasons[0] in request_texts(script, "writer")[1]


async def test_the_acceptance_checks_are_configurable_and_recorded():
    from autodata.state.legal import LegalAcceptance

    def flat(answer: str, n: int) -> list[bool]:
        return [True] * (n - 1) + [False] if answer.startswith("strong") else [True] * 3 + [False] * (n - 3)

    script = LegalScript(verdicts=[judge("accept")], judge_hits=flat)
    state, _ = await run_legal(script, acceptance=LegalAcceptance(weak_spread=False))
    assert state.status == "accepted"
    ctx = LegalContext.for_run({"task": "legal"}, {"min_gap": 0.3, "strong_min_avg": 0.5, "weight_ranges": False})
    assert (ctx.acceptance.min_gap, ctx.acceptance.strong_min_avg, ctx.shape.weight_ranges) == (0.3, 0.5, False)
    assert ctx.model_dump()["acceptance"] == {"min_gap": 0.3, "strong_min_avg": 0.5, "weak_spread": True}


async def test_a_config_that_relaxes_the_shape_cannot_let_a_malformed_rubric_be_accepted():
    from autodata.state.legal import LegalShapeRules

    small = legal_item(n=6)
    script = LegalScript(items=[small], verdicts=[judge("accept")])
    relaxed = LegalShapeRules(min_criteria=2, weight_ranges=False, capability_tags=False, one_proposition=False)
    state, _ = await run_legal(script, shape=relaxed, max_improve_rounds=0)
    [record] = state.rounds
    assert (record.outcome, record.rule) == ("rejected_by_rule", "legal_shape")
    assert "rubric has 6 criteria; it needs 15-25" in record.rule_reasons


async def test_target_capability_summaries_must_be_sentences():
    item = legal_item()
    item["target_capabilities"] = {**item["target_capabilities"], "rewarded": "", "penalised": "x"}
    state, _ = await run_legal(LegalScript(items=[item]), max_improve_rounds=0)
    [record] = state.rounds
    assert record.outcome == "rubric_shape"
    assert "target_capabilities.rewarded must be a sentence of at least 3 words" in record.shape_violations
    assert "target_capabilities.penalised must be a sentence of at least 3 words" in record.shape_violations


async def test_the_loop_judge_prompt_defines_each_grpo_suitability_level():
    captured: list[str] = []
    script = LegalScript()

    def recording(role, messages, tool):
        if tool == "LoopJudgeVerdict":
            captured.append(str(messages[0].content))
        return script(role, messages, tool)

    provider = scripted_provider(recording)
    graph = build_legal(provider).compile()
    await graph.ainvoke({"document": make_document("An opinion on security deposits.")},
                        context=LegalContext(max_improve_rounds=0), config={"recursion_limit": recursion_limit(0)})
    [system] = captured
    for level in ("high", "medium", "low"):
        assert f"  - {level}: " in system

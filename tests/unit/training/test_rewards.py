"""Reward functions: answer equivalence, rubric scoring with negative weights, and judge failures."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from autodata.state.llm_outputs import grades_schema
from autodata.state.schemas import RubricCriterion
from autodata.training.errors import JudgeFailure
from autodata.training.rewards import (
    RubricJudge,
    RubricReward,
    VerifiableReward,
    completion_text,
    verifiable_score,
)
from tests.support.scripted import scripted_provider

RUBRIC = [
    RubricCriterion(criterion="Names the mechanism", weight=3),
    RubricCriterion(criterion="Gives the consequence", weight=1),
    RubricCriterion(criterion="Confuses training with inference", weight=-2),
]


def judge_replying(verdicts):
    return lambda role, messages, tool: {"verdicts": verdicts}


@pytest.mark.parametrize("answer", ["1/2", "0.5", "\\frac{1}{2}", "$\\frac{1}{2}$", "\\boxed{\\frac12}"])
def test_equivalent_forms_of_one_half_earn_the_reward(answer):
    assert verifiable_score(f"Half of one.\nFinal answer: {answer}", "1/2") == 1.0


@pytest.mark.parametrize("answer", ["1/3", "2", "one half-ish", ""])
def test_wrong_answers_earn_nothing(answer):
    assert verifiable_score(f"Final answer: {answer}", "0.5") == 0.0


def test_verifiable_reward_reads_chat_completions_and_skips_rubric_rows():
    reward = VerifiableReward()
    completions = [[{"role": "assistant", "content": "Final answer: 0.5"}], [{"role": "assistant", "content": "x"}]]
    assert reward(prompts=[[], []], completions=completions, family=["verifiable", "rubric"],
                  reference_answer=["1/2", "ref"]) == [1.0, None]  # fmt: skip


def test_completion_text_joins_assistant_messages_only():
    messages = [
        {"role": "assistant", "content": "a"}, {"role": "tool", "content": "x"}, {"role": "assistant", "content": "b"}
    ]
    assert completion_text(messages) == "ab" and completion_text("plain") == "plain"


async def test_negative_weight_hit_costs_points():
    judge = RubricJudge(scripted_provider(judge_replying([True, True, True])))
    # (3 + 1 - 2) / (3 + 1): the mistake was made, so it subtracts.
    assert await judge.grade("q", "", "answer", RUBRIC) == pytest.approx(0.5)


async def test_score_is_clipped_at_zero_when_only_the_mistake_is_made():
    judge = RubricJudge(scripted_provider(judge_replying([False, False, True])))
    assert await judge.grade("q", "", "answer", RUBRIC) == 0.0


async def test_judge_prompt_is_blind_to_the_reference_and_lists_the_criteria():
    provider = scripted_provider(judge_replying([True, False, False]))
    await RubricJudge(provider).grade("Why?", "ctx", "my answer", RUBRIC)
    (call,) = provider.chat_model("judge").calls
    user = str(call["messages"][-1].content)
    assert "my answer" in user and "Confuses training with inference" in user and "Return exactly 3" in user
    assert call["tool"] == "RubricGrades"


def test_grades_schema_demands_one_verdict_per_criterion():
    schema = grades_schema(3)
    assert schema.model_validate({"verdicts": [True, False, True]}).verdicts == [True, False, True]
    with pytest.raises(ValueError):
        schema.model_validate({"verdicts": [True]})


async def test_wrong_verdict_count_is_re_asked_then_raises():
    provider = scripted_provider(judge_replying([True]))
    with pytest.raises(JudgeFailure, match="judge failed after retries"):
        await RubricJudge(provider).grade("q", "", "a", RUBRIC)
    attempts = provider.settings.role("judge").parse_retries + 1
    assert len(provider.chat_model("judge").calls) == attempts


async def test_an_endpoint_error_raises_instead_of_scoring_zero():
    def down(role, messages, tool):
        raise ConnectionError("judge endpoint unreachable")

    with pytest.raises(JudgeFailure, match="unreachable"):
        await RubricJudge(scripted_provider(down)).grade("q", "", "a", RUBRIC)


async def test_a_rubric_without_positive_criteria_cannot_be_graded():
    with pytest.raises(JudgeFailure, match="no positively weighted"):
        await RubricJudge(scripted_provider(judge_replying([True]))).grade(
            "q", "", "a", [RubricCriterion(criterion="mistake", weight=-1)]
        )


def reward_inputs(answers: list[str]) -> dict:
    n = len(answers)
    return {
        "prompts": [[]] * n, "completions": [[{"role": "assistant", "content": a}] for a in answers],
        "family": ["rubric"] * (n - 1) + ["verifiable"], "question": ["Why?"] * n, "context": [""] * n,
        "rubric": [json.dumps([c.model_dump() for c in RUBRIC])] * n, "item_id": [f"i{k}" for k in range(n)],
    }  # fmt: skip


def selective_judge(role, messages, tool):
    if "bad answer" in str(messages[-1].content):
        return "not a tool call"  # malformed every time: fails after the retries
    return {"verdicts": [True, False, False]}


async def test_rubric_reward_leaves_failed_judgements_unscored_and_counts_them(caplog):
    metrics: dict[str, float] = {}
    reward = RubricReward(RubricJudge(scripted_provider(selective_judge)), on_failure="skip")
    with caplog.at_level(logging.WARNING):
        rewards = await reward(**reward_inputs(["good answer", "bad answer", "Final answer: 2"]),
                               log_metric=metrics.__setitem__)  # fmt: skip
    assert rewards == [0.75, None, None]  # the judge failure is None (unscored), never 0; row 3 is verifiable
    assert metrics == {"judge_failures": 1.0}
    assert "judge failed on 1 of 2 completions" in caplog.text


async def test_rubric_reward_stops_when_every_judgement_fails_even_in_skip_mode():
    reward = RubricReward(RubricJudge(scripted_provider(selective_judge)), on_failure="skip")
    with pytest.raises(JudgeFailure, match="judge failed on 2 of 2 completions"):
        await reward(**reward_inputs(["bad answer", "bad answer", "x"]))


async def test_rubric_reward_can_stop_training_on_a_failed_judgement():
    reward = RubricReward(RubricJudge(scripted_provider(selective_judge)), on_failure="raise")
    with pytest.raises(JudgeFailure, match="item i1"):
        await reward(**reward_inputs(["good answer", "bad answer", "x"]))


async def test_judgements_run_concurrently_up_to_the_limit():
    in_flight = peak = 0

    async def slow_grade(**request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return 1.0

    judge = RubricJudge(concurrency=3)
    judge.grade = slow_grade
    done = []
    scores = await judge.grade_all([{}] * 10, on_done=lambda: done.append(1))
    assert scores == [1.0] * 10 and peak == 3 and len(done) == 10

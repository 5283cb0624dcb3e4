"""autodata's lean OpenAI-compatible chat model, and the langchain-openai alternative, against a real HTTP
endpoint (the fake OpenAI server on loopback): every structured-output method, usage, errors, slots."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from autodata.llm.models import ModelProvider
from autodata.llm.openai_compat import EndpointError, OpenAICompatibleChatModel
from autodata.llm.settings import load_settings
from autodata.state.llm_outputs import QualityAssessment
from tests.support.fake_openai import (
    INVALID_JSON,
    FakeOpenAIServer,
    FaultPlan,
    settings_env,
)

pytestmark = pytest.mark.integration

ASK = [SystemMessage("You check items. Answer in JSON."), HumanMessage("Is this item fit for the dataset?")]


def script(role, messages, tool):
    """The checker roles answer JSON (a tool call when tools are offered); the solvers answer text."""
    return {"passed": False, "reasons": ["recall only"]} if role in ("quality_verifier", "judge") else f"{role} says hello"


def provider_for(server: FakeOpenAIServer, **env: str) -> ModelProvider:
    return ModelProvider(load_settings(env=settings_env(server.base_url, AUTODATA_MAX_RETRIES="1", **env)))


@pytest.mark.parametrize("client", ["autodata", "langchain-openai"])
@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
async def test_every_structured_output_method_returns_the_schema(client, method):
    with FakeOpenAIServer(script) as server:
        provider = provider_for(server, AUTODATA_CLIENT=client, AUTODATA_STRUCTURED_METHOD=method)
        result = await provider.structured("quality_verifier", QualityAssessment, ASK)
        assert result.ok, result.error
        assert result.value == QualityAssessment(passed=False, reasons=["recall only"])
        assert result.usage.calls == 1 and result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
        (request,) = server.requests
        assert request.model == "quality_verifier" and request.tool_call == (method == "function_calling")


@pytest.mark.parametrize("client", ["autodata", "langchain-openai"])
async def test_text_answers_carry_usage(client):
    with FakeOpenAIServer(script) as server:
        result = await provider_for(server, AUTODATA_CLIENT=client).text("weak", ASK)
        assert result.ok and result.value == "weak says hello"
        assert result.usage.calls == 1 and result.usage.prompt_tokens == 13 and result.usage.completion_tokens == 3


async def test_the_lean_model_is_a_langchain_chat_model_sync_and_async():
    with FakeOpenAIServer(script) as server:
        model = OpenAICompatibleChatModel(model="strong", base_url=server.base_url, temperature=0.0, max_tokens=9)
        reply = model.invoke(ASK)
        assert reply.content == "strong says hello"
        assert reply.usage_metadata["output_tokens"] == 3 and reply.response_metadata["finish_reason"] == "stop"
        judge = model.model_copy(update={"model": "judge"})
        tool_reply = await judge.bind_tools([QualityAssessment], tool_choice="QualityAssessment").ainvoke(ASK)
        assert tool_reply.tool_calls[0]["args"] == {"passed": False, "reasons": ["recall only"]}


async def test_a_refused_request_is_not_retried_and_says_why():
    with FakeOpenAIServer(script) as server:
        model = OpenAICompatibleChatModel(model="weak", base_url=server.base_url + "/no-such-prefix", api_key="sk-planted")
        with pytest.raises(EndpointError, match=r"HTTP 404 from http://127\.0\.0\.1:\d+/v1/no-such-prefix") as caught:
            await model.ainvoke(ASK)
        assert "sk-planted" not in str(caught.value)
        result = await ModelProvider(
            load_settings(env=settings_env(server.base_url + "/no-such-prefix", AUTODATA_MAX_RETRIES="3"))
        ).text("weak", ASK)
        assert not result.ok and "HTTP 404" in result.error and result.usage.calls == 1


async def test_a_garbled_body_is_retried():
    with FakeOpenAIServer(script, faults=FaultPlan(schedule=[INVALID_JSON])) as server:
        provider = ModelProvider(provider_for(server).settings.model_copy(update={"transport_initial_wait": 0.01}))
        result = await provider.structured("judge", QualityAssessment, ASK)
        assert result.ok and [r.fault for r in server.requests] == [INVALID_JSON, None]


async def test_max_concurrent_requests_bounds_the_requests_in_flight():
    latency, limit = 0.15, 2
    with FakeOpenAIServer(script, latency=latency) as server:
        provider = provider_for(server, AUTODATA_MAX_CONCURRENT_REQUESTS=str(limit))
        results = await asyncio.gather(*(provider.text(role, ASK) for role in ["weak", "strong", "judge"] * 2))
        assert all(r.ok for r in results)
        arrivals = sorted(r.arrived for r in server.requests)
        # Roles on one endpoint share its slots: a third request starts only when one of two has finished.
        assert all(later - earlier >= latency * 0.9 for earlier, later in zip(arrivals, arrivals[limit:]))


def test_each_event_loop_gets_a_session_that_closes_with_the_loop():
    from autodata.llm import openai_compat, rate_limits

    with FakeOpenAIServer(script) as server:
        model = OpenAICompatibleChatModel(model="weak", base_url=server.base_url, max_concurrent_requests=2)
        sessions, loops = [], []

        async def call() -> str:
            reply = await model.ainvoke(ASK)
            loops.append(asyncio.get_running_loop())
            sessions.append(openai_compat._sessions[loops[-1]][0])
            return reply.content

        # Two loops one after another (as two CLI commands, or a reward function per training step).
        assert [asyncio.run(call()) for _ in range(2)] == ["weak says hello"] * 2
        assert sessions[0] is not sessions[1] and all(session.closed for session in sessions)
        for loop in loops:  # nothing is kept for a finished loop
            assert loop not in openai_compat._sessions and loop not in rate_limits._states

"""`client = "langchain-openai"`: connections that outlive an event loop are not reused, and the request
limit holds as it does for the lean client; neither client reuses a connection the server is about to close
(documents that ended failed in the benchmarks)."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
from langchain_core.messages import HumanMessage

from autodata.llm.models import ModelProvider
from autodata.llm.openai_compat import KEEPALIVE_SECONDS, LoopLocalTransport
from autodata.llm.settings import load_settings
from tests.support.fake_openai import FakeOpenAIServer, settings_env

pytestmark = pytest.mark.integration

ASK = [HumanMessage("Is this item fit for the dataset?")]


def script(role, messages, tool):
    return f"{role} says hello"


def provider_for(server: FakeOpenAIServer, **env: str) -> ModelProvider:
    env = settings_env(server.base_url, AUTODATA_CLIENT="langchain-openai", AUTODATA_MAX_RETRIES="0", **env)
    return ModelProvider(load_settings(env=env))


def test_a_second_event_loop_does_not_reuse_the_first_loops_connections():
    with FakeOpenAIServer(script, latency=0.05) as server:

        async def calls() -> list[str | None]:
            provider = provider_for(server)  # a fresh provider per loop, as each benchmark run builds one
            results = await asyncio.gather(*(provider.text(role, ASK) for role in ["weak", "strong", "judge"] * 3))
            return [result.error for result in results]

        # Before: the second loop's calls picked up the first loop's pooled connections ("Event loop is closed").
        assert [asyncio.run(calls()) for _ in range(3)] == [[None] * 9] * 3


async def test_max_concurrent_requests_bounds_the_langchain_openai_client_too():
    latency, limit = 0.15, 2
    with FakeOpenAIServer(script, latency=latency) as server:
        provider = provider_for(server, AUTODATA_MAX_CONCURRENT_REQUESTS=str(limit))
        results = await asyncio.gather(*(provider.text(role, ASK) for role in ["weak", "strong", "judge"] * 2))
        assert all(r.ok for r in results)
        arrivals = sorted(r.arrived for r in server.requests)
        assert all(later - earlier >= latency * 0.9 for earlier, later in zip(arrivals, arrivals[limit:]))


def test_both_clients_drop_idle_connections_before_a_uvicorn_server_closes_them():
    # vLLM and SGLang serve through uvicorn: reusing a connection it is closing fails the request.
    server_keepalive = uvicorn.Config(app=None).timeout_keep_alive
    assert KEEPALIVE_SECONDS < server_keepalive
    assert LoopLocalTransport().limits.keepalive_expiry == KEEPALIVE_SECONDS

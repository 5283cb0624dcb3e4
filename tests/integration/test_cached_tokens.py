"""Cached prompt tokens end to end: the fake endpoint's prefix cache reports them, both clients read them,
and they add up per role."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from autodata.llm.models import ModelProvider
from autodata.llm.settings import load_settings
from autodata.state.llm_outputs import QualityAssessment
from autodata.state.self_instruct import merge_usage
from tests.support.fake_openai import FakeOpenAIServer, PrefixCache, settings_env

pytestmark = pytest.mark.integration

BLOCK = 4
INSTRUCTIONS = SystemMessage("You check items against the document below. " + "The document says many things. " * 5)


def script(role, messages, tool):
    return {"passed": True, "reasons": []} if tool else f"{role} answer"


def ask(tail: str) -> list:
    return [INSTRUCTIONS, HumanMessage(f"Round feedback: {tail}")]


def test_the_prefix_cache_counts_whole_leading_blocks_seen_before():
    cache = PrefixCache(block=4)
    first = "a b c d e f g h i j".split()
    assert cache.cached_tokens(first) == 0
    assert cache.cached_tokens(first) == 8  # two full blocks; the last two words are not a block
    assert cache.cached_tokens("a b c d e f g X i j k l".split()) == 4  # differs in block 2: block 3 is not reused
    assert cache.cached_tokens("X b c d e f g h".split()) == 0  # a block is cached only with its whole prefix


@pytest.mark.parametrize("client", ["autodata", "langchain-openai"])
async def test_both_clients_record_cached_tokens_and_they_add_up_per_role(client):
    with FakeOpenAIServer(script, prefix_cache_block=BLOCK) as server:
        env = settings_env(server.base_url, AUTODATA_CLIENT=client, AUTODATA_MAX_RETRIES="0")
        provider = ModelProvider(load_settings(env=env))
        first = await provider.text("weak", ask("none yet"))
        second = await provider.text("weak", ask("the question was recall only"))
        checked = await provider.structured("quality_verifier", QualityAssessment, ask("none yet"))
    assert first.ok and second.ok and checked.ok
    shared_words = len(INSTRUCTIONS.content.split()) + len("Round feedback:".split())
    assert first.usage.cached_prompt_tokens == 0
    assert second.usage.cached_prompt_tokens == shared_words // BLOCK * BLOCK > 0
    assert checked.usage.cached_prompt_tokens == 0  # another model: another server's cache
    usage = merge_usage({"weak": first.usage}, {"weak": second.usage, "quality_verifier": checked.usage})
    assert usage["weak"].cached_prompt_tokens == second.usage.cached_prompt_tokens
    assert usage["weak"].prompt_tokens == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert usage["weak"].calls == 2 and usage["quality_verifier"].cached_prompt_tokens == 0

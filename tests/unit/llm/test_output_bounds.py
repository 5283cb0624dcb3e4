"""A reply longer than the role's max_tokens allows is the model's answer (a model_error), never stored whole
and never an endpoint failure that would fail the document again on every re-run."""

from __future__ import annotations

import asyncio

from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from autodata.llm.models import reply_char_limit
from tests.support.scripted import scripted_provider


class Verdict(BaseModel):
    reason: str


def with_max_tokens(provider, max_tokens: int):
    roles = {name: cfg.model_copy(update={"max_tokens": max_tokens}) for name, cfg in provider.settings.roles.items()}
    provider.settings = provider.settings.model_copy(update={"roles": roles})
    return provider


def test_an_over_long_text_answer_is_an_error_of_the_model_not_of_the_endpoint():
    limit = reply_char_limit(100)
    provider = with_max_tokens(scripted_provider(lambda role, messages, tool: "x" * (limit + 1)), 100)
    result = asyncio.run(provider.text("weak", [HumanMessage("hi")]))
    assert not result.ok and result.failure is None and result.value is None
    assert "longer than max_tokens 100 allows" in result.error and len(result.error) <= 500
    assert result.usage.calls == 1  # a text call is not asked again


def test_an_answer_within_the_bound_passes():
    limit = reply_char_limit(100)
    provider = with_max_tokens(scripted_provider(lambda role, messages, tool: "x" * limit), 100)
    result = asyncio.run(provider.text("weak", [HumanMessage("hi")]))
    assert result.ok and len(result.value) == limit


def test_an_over_long_structured_field_is_re_asked_then_a_model_error():
    provider = with_max_tokens(scripted_provider(lambda role, messages, tool: {"reason": "y" * 100_000}), 100)
    result = asyncio.run(provider.structured("judge", Verdict, [HumanMessage("hi")]))
    assert not result.ok and result.failure is None and "longer than max_tokens" in result.error
    assert result.usage.calls == 1 + provider.config("judge").parse_retries

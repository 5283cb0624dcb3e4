"""The lean chat model's wire format: request bodies, response parsing and error classification."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from autodata.llm.openai_compat import (
    EndpointError,
    GarbledResponseError,
    OpenAICompatibleChatModel,
    TransientEndpointError,
    _raise_for_status,
    parse_completion,
)
from autodata.state.llm_outputs import QualityAssessment

URL = "http://127.0.0.1:9/v1/chat/completions"


def completion(message: dict, usage: dict | None = None) -> bytes:
    body = {"id": "c1", "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    if usage:
        body["usage"] = usage
    return json.dumps(body).encode()


def test_request_body_carries_the_settings_and_bound_fields():
    model = OpenAICompatibleChatModel(model="m", base_url="http://x/v1", temperature=0.2, max_tokens=64,
                                      max_tokens_field="max_completion_tokens", seed=7)  # fmt: skip
    call = {"name": "QualityAssessment", "args": {"passed": True}, "id": "call_1"}
    history = [SystemMessage("sys"), HumanMessage("hi"), AIMessage("", tool_calls=[call]),
               ToolMessage("ok", tool_call_id="call_1")]  # fmt: skip
    body = model.request_body(history, stop=["END"], tool_choice="auto", ls_structured_output_format={"x": 1})
    assert body["model"] == "m" and body["temperature"] == 0.2 and body["seed"] == 7 and body["stop"] == ["END"]
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert body["tool_choice"] == "auto" and not any(key.startswith("ls_") for key in body)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "QualityAssessment"
    assert body["messages"][3]["tool_call_id"] == "call_1"


def test_a_tool_name_as_tool_choice_forces_that_tool():
    bound = OpenAICompatibleChatModel(model="m").bind_tools([QualityAssessment], tool_choice="QualityAssessment")
    assert bound.kwargs["tool_choice"] == {"type": "function", "function": {"name": "QualityAssessment"}}
    assert bound.kwargs["tools"][0]["function"]["parameters"]["properties"]["passed"]["type"] == "boolean"


def test_a_completion_becomes_an_ai_message_with_usage():
    result = parse_completion(completion({"role": "assistant", "content": "hello"},
                                         {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}), URL)  # fmt: skip
    message = result.generations[0].message
    assert message.content == "hello" and message.usage_metadata["input_tokens"] == 5
    assert message.response_metadata == {"model_name": "m", "finish_reason": "stop"}


def test_tool_arguments_with_raw_newlines_are_accepted_and_broken_ones_are_invalid_calls():
    calls = [
        {"id": "a", "type": "function", "function": {"name": "t", "arguments": '{"q": "line\nbreak"}'}},
        {"id": "b", "type": "function", "function": {"name": "t", "arguments": '{"q": '}},
    ]
    message = parse_completion(completion({"role": "assistant", "content": None, "tool_calls": calls}), URL).generations[0].message
    assert message.tool_calls[0]["args"] == {"q": "line\nbreak"}
    assert message.invalid_tool_calls[0]["id"] == "b" and message.invalid_tool_calls[0]["error"]


@pytest.mark.parametrize("body", [b'{"id": "x", "choices": [', b"<html>Bad gateway</html>", b'{"choices": []}'])
def test_a_body_that_is_not_a_completion_is_garbled(body):
    with pytest.raises(GarbledResponseError, match="not a chat completion"):
        parse_completion(body, URL)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_overload_and_server_errors_are_transient(status):
    with pytest.raises(TransientEndpointError) as caught:
        _raise_for_status(status, b'{"error": {"message": "slow down"}}', {"retry-after-ms": "250"}, URL)
    assert caught.value.status == status and caught.value.retry_after == 0.25 and "slow down" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status):
    with pytest.raises(EndpointError) as caught:
        _raise_for_status(status, b"no such model", {"retry-after": "3"}, URL)
    assert not isinstance(caught.value, TransientEndpointError)
    assert f"HTTP {status} from {URL}: no such model" == str(caught.value)

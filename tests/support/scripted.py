"""A scripted chat model for unit tests: answers come from a Python function, structured output works.

LangChain's fake chat models cannot `bind_tools`, so `with_structured_output(method="function_calling")`
fails on them. This one returns a tool call named after the bound tool whenever the script returns a dict,
and plain text when it returns a string. A script may also raise to simulate a failing endpoint.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from autodata.llm.models import ModelProvider
from autodata.llm.settings import load_settings
from autodata.state.schemas import ROLES

# A script gets (role, messages, tool_name or None) and returns a dict (tool args), a str (text), or raises.
Script = Callable[[str, list[BaseMessage], str | None], Any]


class ScriptedChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    role: str
    script: Script
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _ids: Any = PrivateAttr(default_factory=itertools.count)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._calls

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or []
        tool_name = tools[0]["function"]["name"] if tools else None
        with self._lock:
            self._calls.append({"messages": messages, "tool": tool_name})
        reply = self.script(self.role, messages, tool_name)
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        if isinstance(reply, dict):
            if tool_name is None:
                message = AIMessage(content=json.dumps(reply), usage_metadata=usage)
            else:
                call = {"name": tool_name, "args": reply, "id": f"call_{next(self._ids)}", "type": "tool_call"}
                message = AIMessage(content="", tool_calls=[call], usage_metadata=usage)
        else:
            message = AIMessage(content=str(reply), usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


def scripted_provider(script: Script, **setting_overrides: Any) -> ModelProvider:
    """A ModelProvider whose every role is a ScriptedChatModel running `script`; no retries wait."""
    settings = load_settings(env={})
    settings = settings.model_copy(update={"retry_initial_wait": 0.0, **setting_overrides})
    models = {role: ScriptedChatModel(role=role, script=script) for role in ROLES}
    return ModelProvider(settings, chat_models=models)


def last_user_text(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)

"""Roles -> LangChain chat models, and the two ways nodes call them (free text, structured output).

Transport faults (timeouts, HTTP 429/5xx, refused connections) are retried with exponential backoff by
the OpenAI client inside `ChatOpenAI` (`max_retries`). Malformed structured output is re-asked through
LangChain's `Runnable.with_retry`, and so is a garbled response body (invalid JSON from a proxy or an
overloaded server), which the OpenAI client does not retry. After the last attempt a call returns a
`CallResult` with `error` set instead of raising, so one bad call never crashes a batch; callers record
the failure.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from openai import APIResponseValidationError
from pydantic import BaseModel, ValidationError

from autodata.settings import RoleConfig, Settings, load_settings
from state.schemas import RoleUsage

T = TypeVar("T", bound=BaseModel)


class MalformedOutputError(ValueError):
    """The model answered, but not in the requested structure."""


# The endpoint answered 200 with a body that is not the API's JSON: worth asking again.
GARBLED_RESPONSE = (json.JSONDecodeError, APIResponseValidationError)


@dataclass
class CallResult:
    value: Any = None
    usage: RoleUsage = field(default_factory=RoleUsage)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _UsageRecorder(AsyncCallbackHandler):
    """Counts every chat-model call (retries included) and the tokens each reports."""

    def __init__(self) -> None:
        self.usage = RoleUsage()

    async def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.usage.calls += 1

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for gen in generations:
                meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
                if meta:
                    self.usage.prompt_tokens += int(meta.get("input_tokens", 0))
                    self.usage.completion_tokens += int(meta.get("output_tokens", 0))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _require_parsed(output: dict[str, Any]) -> Any:
    if output.get("parsed") is None:
        error = output.get("parsing_error")
        raw = output.get("raw")
        content = getattr(raw, "content", "") if raw is not None else ""
        detail = _describe(error) if error else f"no structured answer (content: {str(content)[:200]!r})"
        raise MalformedOutputError(detail)
    return output["parsed"]


def _tool_call_parser(schema: type[T]) -> RunnableLambda:
    """The forced tool call's arguments as a `schema` instance; anything else is malformed output."""
    name = convert_to_openai_tool(schema)["function"]["name"]

    def parse(message: BaseMessage) -> T:
        calls = getattr(message, "tool_calls", None) or []
        if calls and calls[0]["name"] == name:
            try:
                return schema.model_validate(calls[0]["args"])
            except ValidationError as exc:
                raise MalformedOutputError(_describe(exc)) from exc
        invalid = getattr(message, "invalid_tool_calls", None) or []
        if invalid:
            raise MalformedOutputError(f"tool arguments are not valid JSON: {str(invalid[0].get('args'))[:200]!r}")
        raise MalformedOutputError(f"no {name} tool call (content: {str(message.content)[:200]!r})")

    async def aparse(message: BaseMessage) -> T:
        return parse(message)

    return RunnableLambda(parse, afunc=aparse, name=f"parse_{name}")


async def _arequire_parsed(output: dict[str, Any]) -> Any:
    return _require_parsed(output)


class ModelProvider:
    """Builds and caches one chat model per role; tests pass scripted models through `chat_models`."""

    def __init__(self, settings: Settings, chat_models: dict[str, BaseChatModel] | None = None) -> None:
        self.settings = settings
        self._models: dict[str, BaseChatModel] = dict(chat_models or {})
        # Built once per (role, output schema): building a structured-output chain converts the schema to
        # a tool definition, which costs milliseconds, on every call otherwise.
        self._chains: dict[tuple[str, type | None], Runnable] = {}

    def config(self, role: str) -> RoleConfig:
        return self.settings.role(role)

    def model_name(self, role: str) -> str:
        return self.config(role).model

    def chat_model(self, role: str) -> BaseChatModel:
        if role not in self._models:
            self._models[role] = self._build(role)
        return self._models[role]

    def _build(self, role: str) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        cfg = self.config(role)
        if cfg.is_embedded:
            from autodata.embedded import EMBEDDED_API_KEY, EMBEDDED_MODEL_ALIAS, ensure_embedded_server

            server = ensure_embedded_server(self.settings.embedded)
            model, base_url, api_key = EMBEDDED_MODEL_ALIAS, server.base_url, EMBEDDED_API_KEY
        else:
            model, base_url = cfg.model, cfg.base_url
            api_key = cfg.api_key.get_secret_value() if cfg.api_key else "not-needed"
        # ChatOpenAI sends its `max_tokens` as `max_completion_tokens`, which llama.cpp's server (and some
        # other OpenAI-compatible servers) silently ignore: generations then run to the end of the context.
        # Such endpoints get the classic `max_tokens` field in the request body instead.
        limit_field = cfg.resolved_max_tokens_param(base_url)
        token_limit = {"max_tokens": cfg.max_tokens} if limit_field == "max_completion_tokens" else {
            "extra_body": {"max_tokens": cfg.max_tokens}
        }
        return ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key=api_key,
            temperature=cfg.temperature,
            timeout=cfg.timeout,
            max_retries=cfg.max_retries,
            stream_usage=True,
            seed=cfg.seed,
            **token_limit,
        )

    def _run_config(self, role: str, recorder: _UsageRecorder, metadata: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "callbacks": [recorder],
            "tags": [f"role:{role}"],
            "metadata": {"role": role, "model": self.model_name(role), **(metadata or {})},
            "run_name": f"autodata.{role}",
        }

    def _with_reasks(self, runnable: Runnable, retry_on: tuple[type[BaseException], ...], attempts: int) -> Runnable:
        # `initial` is the wait knob LangChain passes through to tenacity (`multiplier` is silently dropped).
        wait = self.settings.retry_initial_wait
        return runnable.with_retry(
            retry_if_exception_type=retry_on,
            stop_after_attempt=attempts,
            wait_exponential_jitter=True,
            exponential_jitter_params={"initial": wait, "jitter": wait, "max": 8.0},
        )

    def _structured_output(self, role: str, schema: type[BaseModel]) -> Runnable:
        model, method = self.chat_model(role), self.config(role).structured_method
        if method == "function_calling":
            # The request `with_structured_output(method="function_calling")` sends, parsed by an async
            # function: LangChain's output parsers hop to a thread pool on every call, which was ~40% of a
            # structured call's CPU in benchmarks/throughput.py.
            bound = model.bind_tools(
                [schema],
                tool_choice=convert_to_openai_tool(schema)["function"]["name"],
                parallel_tool_calls=False,
                ls_structured_output_format={"kwargs": {"method": method, "strict": None}, "schema": schema},
            )
            return bound | _tool_call_parser(schema)
        structured = model.with_structured_output(schema, method=method, include_raw=True)
        return structured | RunnableLambda(_require_parsed, afunc=_arequire_parsed)

    def _chain(self, role: str, schema: type[BaseModel] | None) -> Runnable:
        key = (role, schema)
        if key not in self._chains:
            attempts = self.config(role).parse_retries + 1
            if schema is None:
                self._chains[key] = self._with_reasks(self.chat_model(role), GARBLED_RESPONSE, attempts)
            else:
                retry_on = (MalformedOutputError, ValidationError, *GARBLED_RESPONSE)
                self._chains[key] = self._with_reasks(self._structured_output(role, schema), retry_on, attempts)
        return self._chains[key]

    async def text(
        self, role: str, messages: Sequence[BaseMessage], metadata: dict[str, Any] | None = None
    ) -> CallResult:
        """Free-text answer (solvers, orchestrator advice)."""
        recorder = _UsageRecorder()
        chain = self._chain(role, None)
        try:
            message = await chain.ainvoke(list(messages), config=self._run_config(role, recorder, metadata))
        except Exception as exc:  # noqa: BLE001 - after transport retries any failure is recorded, not raised
            recorder.usage.failures += 1
            return CallResult(usage=recorder.usage, error=_describe(exc))
        return CallResult(value=str(message.content or ""), usage=recorder.usage)

    async def structured(
        self,
        role: str,
        schema: type[T],
        messages: Sequence[BaseMessage],
        metadata: dict[str, Any] | None = None,
    ) -> CallResult:
        """A validated `schema` instance; malformed answers are re-asked `parse_retries` times."""
        recorder = _UsageRecorder()
        chain = self._chain(role, schema)
        try:
            parsed = await chain.ainvoke(list(messages), config=self._run_config(role, recorder, metadata))
        except Exception as exc:  # noqa: BLE001 - recorded as a failed call, see module docstring
            recorder.usage.failures += 1
            return CallResult(usage=recorder.usage, error=_describe(exc))
        if not isinstance(parsed, schema):
            parsed = schema.model_validate(parsed if isinstance(parsed, dict) else parsed.model_dump())
        return CallResult(value=parsed, usage=recorder.usage)


class EndpointUnreachableError(RuntimeError):
    """A configured endpoint does not answer at all; the message names the roles and the URL."""


def check_endpoints(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, before any document is read, when a remote endpoint cannot be reached.

    Any HTTP answer from `<base_url>/models` counts as reachable (even 401/404); only a refused connection,
    an unknown host or a timeout fails. The embedded backend is checked when it starts.
    """
    import httpx

    roles_by_url: dict[str, list[str]] = {}
    for role, cfg in settings.roles.items():
        if not cfg.is_embedded and cfg.base_url:
            roles_by_url.setdefault(cfg.base_url.rstrip("/"), []).append(role)
    for url, roles in roles_by_url.items():
        try:
            httpx.get(f"{url}/models", timeout=timeout)
        except httpx.HTTPError as exc:
            raise EndpointUnreachableError(
                f"cannot reach {url} (roles: {', '.join(roles)}): {type(exc).__name__}: {exc}. Is the server "
                "running, and is the base URL right (it usually ends in /v1)?"
            ) from None


_provider: ModelProvider | None = None


def current_provider() -> ModelProvider:
    """The provider nodes use: set by the CLI or tests, else built from settings on first use."""
    global _provider
    if _provider is None:
        _provider = ModelProvider(load_settings())
    return _provider


def set_provider(provider: ModelProvider | None) -> None:
    global _provider
    _provider = provider


@contextlib.contextmanager
def using_provider(provider: ModelProvider) -> Iterator[ModelProvider]:
    global _provider
    previous, _provider = _provider, provider
    try:
        yield provider
    finally:
        _provider = previous

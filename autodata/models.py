"""Roles -> LangChain chat models, and the two ways nodes call them (free text, structured output).

Every role is a LangChain chat model on an OpenAI-compatible endpoint: `OpenAICompatibleChatModel`
(autodata's lean client, the default) or langchain-openai's `ChatOpenAI` (`client = "langchain-openai"`).
Each call is retried by tenacity (the library LangChain's `Runnable.with_retry` wraps) with two budgets:
transport faults (timeouts, refused connections, HTTP 408/409/429/5xx, a garbled body) get `max_retries`
retries with exponential backoff, or after the server's Retry-After when it sends one; malformed structured
output gets `parse_retries` re-asks. Each attempt is its own traced chat-model run (tagged
`retry:attempt:N` after the first) and a call in the usage figures. Nesting LangChain Runnables for the
retries and the parser instead cost a traced run, a callback manager and a config merge per layer per call
(half a structured call's client CPU in benchmarks/call_overhead.py). After the last attempt a call returns
a `CallResult` with `error` set instead of raising, so one bad call never crashes a batch; callers record
the failure.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from autodata.openai_compat import OPENAI_BASE_URL, OpenAICompatibleChatModel, TransientEndpointError
from autodata.settings import RoleConfig, Settings, load_settings
from state.schemas import RoleUsage

T = TypeVar("T", bound=BaseModel)


class MalformedOutputError(ValueError):
    """The model answered, but not in the requested structure."""


def _transient_errors(client: str) -> tuple[type[BaseException], ...]:
    """What is retried as a transport fault with each client."""
    if client != "langchain-openai":
        return (TransientEndpointError,)
    import openai

    return (
        openai.APIConnectionError,  # refused, dropped and timed-out connections
        openai.RateLimitError,
        openai.InternalServerError,
        openai.APIResponseValidationError,
        json.JSONDecodeError,
    )


@dataclass(frozen=True)
class RetryBudget:
    """How often a call is tried again: transport faults and malformed output have separate budgets."""

    transient: tuple[type[BaseException], ...]
    malformed: tuple[type[BaseException], ...]
    transport_retries: int
    reasks: int
    transport_wait: float
    reask_wait: float

    def retrying(self) -> AsyncRetrying:
        """tenacity's retrier for one call: exponential backoff with jitter, or the server's Retry-After."""
        failures = {"transport": 0, "reask": 0}
        counted: set[int] = set()

        def count(state: RetryCallState) -> str:
            # tenacity asks `stop` and `wait` about each failed attempt (in an order that changed between
            # versions): count each attempt once.
            kind = "reask" if isinstance(state.outcome.exception(), self.malformed) else "transport"
            if state.attempt_number not in counted:
                counted.add(state.attempt_number)
                failures[kind] += 1
            return kind

        def stop(state: RetryCallState) -> bool:
            kind = count(state)
            return failures[kind] > (self.reasks if kind == "reask" else self.transport_retries)

        def wait(state: RetryCallState) -> float:
            if count(state) == "reask":
                base, failed = self.reask_wait, failures["reask"]
            else:
                asked = getattr(state.outcome.exception(), "retry_after", None)
                if asked is not None:
                    return min(float(asked), 60.0)
                base, failed = self.transport_wait, failures["transport"]
            return min(base * 2 ** (failed - 1) + random.uniform(0, base / 2), 30.0)

        return AsyncRetrying(
            retry=retry_if_exception_type((*self.transient, *self.malformed)), stop=stop, wait=wait, reraise=True
        )


@dataclass
class CallResult:
    value: Any = None
    usage: RoleUsage = field(default_factory=RoleUsage)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _count_tokens(usage: RoleUsage, message: Any) -> None:
    meta = getattr(message, "usage_metadata", None)
    if meta:
        usage.prompt_tokens += int(meta.get("input_tokens", 0))
        usage.completion_tokens += int(meta.get("output_tokens", 0))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _json_object(text: str) -> Any:
    """The JSON in a reply's text, allowing the ```json fences some servers add in JSON mode."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    return json.loads(text)


class StructuredOutputParser:
    """A model reply as a validated `schema` instance; anything else raises `MalformedOutputError`.

    `from_tool_call` reads the forced tool call's arguments (function calling); otherwise the reply's text
    is the JSON object (json_schema / json_mode). A plain function of the reply, applied inside the retry
    loop (`ModelProvider._call`) so malformed output is re-asked; LangChain's output parsers would add a
    traced layer and a thread-pool hop to every call.
    """

    def __init__(self, schema: type[BaseModel], from_tool_call: bool) -> None:
        self.schema = schema
        self.from_tool_call = from_tool_call
        self.tool_name = convert_to_openai_tool(schema)["function"]["name"]

    def _validate(self, args: Any) -> Any:
        try:
            return self.schema.model_validate(args)
        except ValidationError as exc:
            raise MalformedOutputError(_describe(exc)) from exc

    def parse(self, message: BaseMessage) -> Any:
        if not self.from_tool_call:
            try:
                return self._validate(_json_object(str(message.content or "")))
            except json.JSONDecodeError:
                raise MalformedOutputError(f"reply is not a JSON object: {str(message.content)[:200]!r}") from None
        calls = getattr(message, "tool_calls", None) or []
        if calls and calls[0]["name"] == self.tool_name:
            return self._validate(calls[0]["args"])
        invalid = getattr(message, "invalid_tool_calls", None) or []
        if invalid:
            raise MalformedOutputError(f"tool arguments are not valid JSON: {str(invalid[0].get('args'))[:200]!r}")
        raise MalformedOutputError(f"no {self.tool_name} tool call (content: {str(message.content)[:200]!r})")


class ModelProvider:
    """Builds and caches one chat model per role; tests pass scripted models through `chat_models`."""

    def __init__(self, settings: Settings, chat_models: dict[str, BaseChatModel] | None = None) -> None:
        self.settings = settings
        self._models: dict[str, BaseChatModel] = dict(chat_models or {})
        # Built once per (role, output schema): binding a structured-output request converts the schema to
        # a tool definition, which costs milliseconds, on every call otherwise.
        self._requests: dict[tuple[str, type | None], tuple[Runnable, Callable[[Any], Any] | None, RetryBudget]] = {}

    def config(self, role: str) -> RoleConfig:
        return self.settings.role(role)

    def model_name(self, role: str) -> str:
        return self.config(role).model

    def chat_model(self, role: str) -> BaseChatModel:
        if role not in self._models:
            self._models[role] = self._build(role)
        return self._models[role]

    def _build(self, role: str) -> BaseChatModel:
        cfg = self.config(role)
        if cfg.is_embedded:
            from autodata.embedded import EMBEDDED_API_KEY, EMBEDDED_MODEL_ALIAS, ensure_embedded_server

            server = ensure_embedded_server(self.settings.embedded)
            model, base_url, api_key = EMBEDDED_MODEL_ALIAS, server.base_url, EMBEDDED_API_KEY
        else:
            model, base_url = cfg.model, cfg.base_url or OPENAI_BASE_URL
            api_key = cfg.api_key.get_secret_value() if cfg.api_key else None
        # OpenAI's API wants `max_completion_tokens`; llama.cpp's server (and some other OpenAI-compatible
        # servers) silently ignore it and generate to the end of the context, so they get `max_tokens`.
        limit_field = cfg.resolved_max_tokens_param(base_url)
        if cfg.client == "langchain-openai":
            return _chat_openai(cfg, model, base_url, api_key, limit_field)
        return OpenAICompatibleChatModel(
            model=model,
            base_url=base_url,
            api_key=api_key,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            max_tokens_field=limit_field,
            seed=cfg.seed,
            timeout=cfg.timeout,
            max_concurrent_requests=cfg.max_concurrent_requests,
        )

    def _run_config(self, role: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "tags": [f"role:{role}"],
            "metadata": {"role": role, "model": self.model_name(role), **(metadata or {})},
            "run_name": f"autodata.{role}",
        }

    def _budget(self, role: str, structured: bool) -> RetryBudget:
        cfg = self.config(role)
        return RetryBudget(
            transient=_transient_errors(cfg.client),
            malformed=(MalformedOutputError, ValidationError) if structured else (),
            transport_retries=cfg.max_retries,
            reasks=cfg.parse_retries if structured else 0,
            transport_wait=self.settings.transport_initial_wait,
            reask_wait=self.settings.retry_initial_wait,
        )

    def _structured_request(self, role: str, schema: type[BaseModel]) -> tuple[Runnable, Callable[[Any], Any]]:
        """The request each structured-output method sends, and the parser for its reply."""
        model, method = self.chat_model(role), self.config(role).structured_method
        tool = convert_to_openai_tool(schema)
        if method == "function_calling":
            request = model.bind_tools([tool], tool_choice=tool["function"]["name"], parallel_tool_calls=False)
        elif method == "json_schema":
            spec = {"name": tool["function"]["name"], "schema": tool["function"]["parameters"], "strict": False}
            request = model.bind(response_format={"type": "json_schema", "json_schema": spec})
        else:
            request = model.bind(response_format={"type": "json_object"})
        return request, StructuredOutputParser(schema, from_tool_call=method == "function_calling").parse

    def _request(self, role: str, schema: type[BaseModel] | None) -> tuple[Runnable, Callable[[Any], Any] | None, RetryBudget]:
        """The chat model (bound to a tool or response format for structured output), the reply's parser
        and the retry budget: built once per role and schema."""
        key = (role, schema)
        if key not in self._requests:
            request, parse = (self.chat_model(role), None) if schema is None else self._structured_request(role, schema)
            self._requests[key] = (request, parse, self._budget(role, structured=schema is not None))
        return self._requests[key]

    async def _call(
        self, role: str, schema: type[BaseModel] | None, messages: Sequence[BaseMessage], metadata: dict[str, Any] | None
    ) -> CallResult:
        """One model call with its retries; every attempt is a chat-model run of its own (and a call in `usage`)."""
        request, parse, budget = self._request(role, schema)
        usage = RoleUsage()
        config = self._run_config(role, metadata)
        value: Any = None
        try:
            async for attempt in budget.retrying():
                with attempt:
                    number = attempt.retry_state.attempt_number
                    usage.calls += 1
                    tags = config["tags"] if number == 1 else [*config["tags"], f"retry:attempt:{number}"]
                    message = await request.ainvoke(list(messages), {**config, "tags": tags})
                    _count_tokens(usage, message)
                    value = parse(message) if parse else message
        except Exception as exc:  # noqa: BLE001 - after the retries any failure is recorded, not raised
            usage.failures += 1
            return CallResult(usage=usage, error=_describe(exc))
        return CallResult(value=value, usage=usage)

    async def text(
        self, role: str, messages: Sequence[BaseMessage], metadata: dict[str, Any] | None = None
    ) -> CallResult:
        """Free-text answer (solvers, orchestrator advice)."""
        result = await self._call(role, None, messages, metadata)
        if result.ok:
            result.value = str(result.value.content or "")
        return result

    async def structured(
        self,
        role: str,
        schema: type[T],
        messages: Sequence[BaseMessage],
        metadata: dict[str, Any] | None = None,
    ) -> CallResult:
        """A validated `schema` instance; malformed answers are re-asked `parse_retries` times."""
        return await self._call(role, schema, messages, metadata)


def _chat_openai(cfg: RoleConfig, model: str, base_url: str, api_key: str | None, limit_field: str) -> BaseChatModel:
    """langchain-openai's client, for endpoints that need what only it supports; retries stay ours."""
    from langchain_openai import ChatOpenAI

    token_limit = {"max_tokens": cfg.max_tokens} if limit_field == "max_completion_tokens" else {
        "extra_body": {"max_tokens": cfg.max_tokens}
    }
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=api_key or "not-needed",
        temperature=cfg.temperature,
        timeout=cfg.timeout,
        max_retries=0,
        seed=cfg.seed,
        **token_limit,
    )


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

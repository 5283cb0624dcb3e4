"""Roles -> LangChain chat models, and the two ways nodes call them (free text, structured output).

Every role is a LangChain chat model on an OpenAI-compatible endpoint: `OpenAICompatibleChatModel`
(autodata's lean client, the default) or langchain-openai's `ChatOpenAI` (`client = "langchain-openai"`).
Each call is retried by tenacity (the library LangChain's `Runnable.with_retry` wraps) with two budgets:
transport faults (timeouts, refused connections, HTTP 408/409/429/5xx, a garbled body) get `max_retries`
retries with exponential backoff, or after the server's Retry-After when it sends one; malformed structured
output gets `parse_retries` re-asks. Backpressure (HTTP 429, a 503 with a Retry-After: the endpoint is busy,
not broken) is waited out without using up `max_retries`, for up to `rate_limit_patience` seconds per call;
meanwhile the endpoint's limiter sends fewer requests at once (autodata/llm/rate_limits.py). Each attempt is its own traced chat-model run (tagged
`retry:attempt:N` after the first) and a call in the usage figures. Nesting LangChain Runnables for the
retries and the parser instead cost a traced run, a callback manager and a config merge per layer per call
(half a structured call's client CPU in benchmarks/call_overhead.py). An empty reply (`content: null`, no
tool call) is a fault of the endpoint and retried like one. A call has a total budget (`call_timeout`);
past it no attempt is started or waited for.

After the last attempt a call returns a `CallResult` with `error` set instead of raising. Malformed output is
the model's answer, recorded by the caller; any other failure is the endpoint's, and `CallResult.failure`
holds it as a `ModelCallFailed`, which the generation graphs' nodes raise (`raise_if_endpoint_failed`): the
document ends `failed` and is retried from its last checkpoint on the next run.

`EndpointBreaker` stops the whole run (`EndpointMisconfiguredError`, a `ConfigError`: exit 2) after
`endpoint_fault_limit` consecutive answers from one endpoint that show a configuration problem: HTTP 401/403,
or HTTP 200 with a body that is not a chat completion (an HTML page, a cut-off body, no choices).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from autodata.llm.openai_compat import (
    OPENAI_BASE_URL,
    EmptyReplyError,
    GarbledResponseError,
    LoopLocalTransport,
    OpenAICompatibleChatModel,
    OversizedBodyError,
    TransientEndpointError,
    cached_prompt_tokens,
    error_detail,
)
from autodata.llm import rate_limits
from autodata.llm.rate_limits import RequestLimits, endpoint_permit, is_backpressure, retry_after_of
from autodata.llm.settings import ConfigError, RoleConfig, Settings, load_settings
from autodata.llm import tracing
from autodata.state.schemas import RoleUsage

T = TypeVar("T", bound=BaseModel)


class MalformedOutputError(ValueError):
    """The model answered, but not in the requested structure."""


class OversizedReplyError(MalformedOutputError):
    """The reply is longer than the role's `max_tokens` allows (the server ignored the budget): the model's
    answer, recorded as a model_error like malformed output, and never kept in the state or a checkpoint."""


# No tokenizer writes more than a few characters per token; 8 per token of the role's `max_tokens`, plus room
# for the JSON around a structured answer, is more than any reply within the budget can hold.
REPLY_CHARS_PER_TOKEN = 8
REPLY_SLACK_CHARS = 4096


def reply_char_limit(max_tokens: int) -> int:
    """The most characters a reply to a role with this `max_tokens` may hold (content, reasoning and tool
    arguments together)."""
    return REPLY_CHARS_PER_TOKEN * max_tokens + REPLY_SLACK_CHARS


def _reply_chars(message: Any) -> int:
    content = getattr(message, "content", None)
    size = len(content) if isinstance(content, str) else len(json.dumps(content, default=str))
    size += len(str((getattr(message, "additional_kwargs", None) or {}).get("reasoning_content") or ""))
    for call in (getattr(message, "tool_calls", None) or []):
        size += len(json.dumps(call.get("args"), default=str))
    for call in (getattr(message, "invalid_tool_calls", None) or []):
        size += len(str(call.get("args") or ""))
    return size


def _reject_oversized_reply(message: Any, max_tokens: int) -> None:
    """Refuse a reply no answer within the role's token budget can be, before it is parsed or stored."""
    size, limit = _reply_chars(message), reply_char_limit(max_tokens)
    if size > limit:
        raise OversizedReplyError(
            f"reply of {size:,} characters is longer than max_tokens {max_tokens} allows ({limit:,} characters); "
            "the endpoint ignored the token budget"
        )


class ModelCallFailed(RuntimeError):
    """A model call failed on the endpoint's side after its retries: no answer, an error status, an empty or
    garbled reply. An infrastructure failure, never a verdict on the item: the generation graphs' nodes raise
    it, the runner records the document as `failed`, and the next run retries it from its last checkpoint."""

    def __init__(self, role: str, url: str, error: str, status: int | None = None, usage: RoleUsage | None = None):
        self.role, self.url, self.error, self.status = role, url, error, status
        self.usage = usage or RoleUsage()
        answered = f" (last answer HTTP {status})" if status else ""
        super().__init__(f"{role} call to {url} failed after {self.usage.calls} attempt(s){answered}: {error}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.role, self.url, self.error, self.status, self.usage)


class EndpointMisconfiguredError(ConfigError):
    """An endpoint's answers show that the configuration is wrong (a key it refuses, a URL that serves no chat
    completions): at start-up, or after `endpoint_fault_limit` such answers in a row. The run stops (exit 2)."""


class UnexpectedReplyError(TransientEndpointError):
    """langchain-openai's client: HTTP 200 with something that is not a chat completion (its own errors for
    an HTML page or an empty `choices` are a ValueError and an IndexError, told apart here)."""


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
        EmptyReplyError,
        UnexpectedReplyError,
    )


def _status_of(exc: BaseException | None) -> int | None:
    """The HTTP status an endpoint error carries (autodata's client: `status`; the OpenAI SDK: `status_code`)."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _garbled_errors(client: str) -> tuple[type[BaseException], ...]:
    """What each client raises for HTTP 200 with a body that is not a chat completion."""
    if client != "langchain-openai":
        return (GarbledResponseError,)
    import openai

    return (openai.APIResponseValidationError, json.JSONDecodeError, UnexpectedReplyError)


def _misconfiguration(exc: BaseException, client: str) -> bool:
    """True for answers that mean the endpoint is set up wrong, not busy or down: HTTP 401/403, or HTTP 200
    with a body that is not a chat completion."""
    return _status_of(exc) in (401, 403) or isinstance(exc, _garbled_errors(client))


def _as_unexpected_reply(exc: Exception, client: str) -> Exception:
    """langchain-openai's errors for a reply that is not a chat completion, as `UnexpectedReplyError`."""
    if client == "langchain-openai" and (
        isinstance(exc, IndexError) or (isinstance(exc, ValueError) and "Unexpected response type" in str(exc))
    ):
        return UnexpectedReplyError(f"the endpoint answered with something that is not a chat completion: {exc}")
    return exc


def _without_secret(text: str, secret: str | None) -> str:
    """`text` with `secret` masked (some servers echo a refused key in their error message)."""
    return text.replace(secret, "***") if secret and len(secret) >= 4 else text


class EndpointBreaker:
    """Counts consecutive answers from one endpoint that show a configuration problem (across every role and
    document using it). A proper chat completion resets the count; timeouts, refusals and 429/5xx neither
    count nor reset it. At the limit it trips: every later call to the endpoint raises at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.streak = 0
        self.tripped: str | None = None

    def check(self) -> None:
        if self.tripped is not None:
            raise EndpointMisconfiguredError(self.tripped)

    def answered(self) -> None:
        self.streak = 0

    def fault(self, role: str, description: str, limit: int) -> None:
        self.streak += 1
        if self.streak >= limit and self.tripped is None:
            self.tripped = (
                f"stopping the run: {self.streak} answers in a row from {self.url} show a configuration problem; "
                f"the last, to the {role} role: {description}. Check that role's base_url (it usually ends in "
                "/v1) and api_key (or api_key_env)."
            )
        self.check()


@dataclass(frozen=True)
class RetryBudget:
    """How often a call is tried again: transport faults and malformed output have separate budgets."""

    transient: tuple[type[BaseException], ...]
    malformed: tuple[type[BaseException], ...]
    transport_retries: int
    reasks: int
    transport_wait: float
    reask_wait: float
    patience: float = 300.0  # seconds of backpressure a call waits out before it counts against transport_retries

    def retrying(self) -> AsyncRetrying:
        """tenacity's retrier for one call: exponential backoff with jitter, or the server's Retry-After."""
        failures = {"transport": 0, "reask": 0, "backpressure": 0}
        kinds: dict[int, str] = {}
        pushed_back_since: list[float] = []  # when this call's first backpressure answer came

        def count(state: RetryCallState) -> str:
            # tenacity asks `stop` and `wait` about each failed attempt (in an order that changed between
            # versions): count each attempt once.
            if state.attempt_number not in kinds:
                kinds[state.attempt_number] = kind = self._kind(state.outcome.exception(), pushed_back_since)
                failures[kind] += 1
            return kinds[state.attempt_number]

        def stop(state: RetryCallState) -> bool:
            kind = count(state)
            if kind == "backpressure":
                return False  # bounded by the patience (then it counts as transport) and the call's deadline
            return failures[kind] > (self.reasks if kind == "reask" else self.transport_retries)

        def wait(state: RetryCallState) -> float:
            kind = count(state)
            if kind == "reask":
                base, failed = self.reask_wait, failures["reask"]
            else:
                asked = retry_after_of(state.outcome.exception())
                if asked is not None:
                    # A little jitter: the requests told to wait together should not all come back together.
                    return min(asked * random.uniform(1.0, 1.2), 60.0)
                base, failed = self.transport_wait, failures[kind]
            return min(base * 2 ** (failed - 1) + random.uniform(0, base / 2), 30.0)

        return AsyncRetrying(
            retry=retry_if_exception_type((*self.transient, *self.malformed)), stop=stop, wait=wait, reraise=True
        )

    def _kind(self, exc: BaseException | None, pushed_back_since: list[float]) -> str:
        if isinstance(exc, self.malformed):
            return "reask"
        if not is_backpressure(exc):
            return "transport"
        if not pushed_back_since:
            pushed_back_since.append(time.monotonic())
        return "backpressure" if time.monotonic() - pushed_back_since[0] <= self.patience else "transport"


@dataclass
class CallResult:
    value: Any = None
    usage: RoleUsage = field(default_factory=RoleUsage)
    error: str | None = None
    failure: ModelCallFailed | None = None  # set when the endpoint failed (not when the output was malformed)

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_if_endpoint_failed(self) -> None:
        """What the generation graphs' nodes call first: an endpoint failure stops the document at this step
        (kept in its checkpoint, retried on the next run) instead of being recorded as a round's verdict."""
        if self.failure is not None:
            raise self.failure


def _cached_tokens(meta: dict[str, Any], message: Any) -> int:
    """The reply's prompt tokens read from the server's prefix cache. LangChain's convention is
    `input_token_details.cache_read` (ChatOpenAI prefixes it with a service tier: `priority_cache_read`);
    a key ChatOpenAI does not map (DeepSeek's `prompt_cache_hit_tokens`) is read from the raw usage it keeps."""
    details = meta.get("input_token_details") or {}
    read = [int(value or 0) for key, value in details.items() if key.endswith("cache_read")]
    if read:
        return sum(read)
    raw = (getattr(message, "response_metadata", None) or {}).get("token_usage") or {}
    return (cached_prompt_tokens(raw) or 0) if isinstance(raw, dict) else 0


def _count_tokens(usage: RoleUsage, message: Any) -> None:
    meta = getattr(message, "usage_metadata", None)
    if meta:
        usage.prompt_tokens += int(meta.get("input_tokens", 0))
        usage.completion_tokens += int(meta.get("output_tokens", 0))
        usage.cached_prompt_tokens += _cached_tokens(meta, message)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _has_text(content: Any) -> bool:
    if isinstance(content, list):  # content blocks
        return any(_has_text(block.get("text") if isinstance(block, dict) else block) for block in content)
    return bool(str(content or "").strip())


def _reject_empty_reply(message: Any) -> None:
    """An answer with no text and no tool call is the endpoint's fault (retried), unless the model spent its
    whole token budget (finish_reason "length"): then it is the model's (empty) answer."""
    if getattr(message, "tool_calls", None) or getattr(message, "invalid_tool_calls", None):
        return
    if _has_text(getattr(message, "content", None)):
        return
    finish = (getattr(message, "response_metadata", None) or {}).get("finish_reason")
    if finish != "length":
        raise EmptyReplyError(f"empty reply (no content, no tool call; finish_reason {finish!r})")


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
    """Builds and caches one chat model per role; tests pass scripted models through `chat_models`.

    Graph builders receive it and bind it to the nodes that call models; `settings` may be a loader, called
    on first use (how the graphs served by `langgraph dev` get theirs without reading settings at import).
    Chat models are built on first call, so an embedded server starts only when a role first needs it."""

    def __init__(
        self, settings: Settings | Callable[[], Settings], chat_models: dict[str, BaseChatModel] | None = None
    ) -> None:
        self._settings = settings
        self._models: dict[str, BaseChatModel] = dict(chat_models or {})
        # Built once per (role, output schema): binding a structured-output request converts the schema to
        # a tool definition, which costs milliseconds, on every call otherwise.
        self._requests: dict[tuple[str, type | None], tuple[Runnable, Callable[[Any], Any] | None, RetryBudget]] = {}
        self._endpoints: dict[str, str] = {}  # role -> base URL its requests go to, once its model is built
        self._breakers: dict[str, EndpointBreaker] = {}  # base URL -> its breaker, shared by the roles on it

    @classmethod
    def from_environment(cls, config: Path | None = None) -> ModelProvider:
        """The provider of `config` (autodata.toml and AUTODATA_* variables), read when a node first needs it.
        With LangSmith tracing on, the served graphs' traces get the compact node runs of autodata/llm/tracing.py."""
        tracing.install()
        return cls(lambda: load_settings(config))

    @property
    def settings(self) -> Settings:
        if not isinstance(self._settings, Settings):
            self._settings = self._settings()
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings

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
            from autodata.llm.embedded import (
                EMBEDDED_API_KEY,
                EMBEDDED_MODEL_ALIAS,
                ensure_embedded_server,
            )

            server = ensure_embedded_server(self.settings.embedded)
            model, base_url, api_key = EMBEDDED_MODEL_ALIAS, server.base_url, EMBEDDED_API_KEY
        else:
            model, base_url = cfg.model, cfg.base_url or OPENAI_BASE_URL
            api_key = cfg.api_key.get_secret_value() if cfg.api_key else None
        self._endpoints[role] = base_url
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
            adaptive_concurrency=cfg.adaptive_concurrency,
            requests_per_minute=cfg.requests_per_minute,
            tokens_per_minute=cfg.tokens_per_minute,
        )

    def endpoint(self, role: str) -> str:
        """The base URL the role's requests go to (for messages; a scripted model in tests has none)."""
        cfg = self.config(role)
        return self._endpoints.get(role) or cfg.base_url or ("embedded" if cfg.is_embedded else OPENAI_BASE_URL)

    def endpoint_limits(self) -> dict[str, dict[str, Any]]:
        """Per endpoint this provider's roles sent requests to: requests in flight, the limit now and over
        time, the answers that said slow down (for stats.json and the progress display)."""
        return rate_limits.snapshot(set(self._endpoints.values()))

    def breaker(self, role: str) -> EndpointBreaker:
        url = self.endpoint(role)
        if url not in self._breakers:
            self._breakers[url] = EndpointBreaker(url)
        return self._breakers[url]

    def _redact(self, role: str, text: str) -> str:
        key = self.config(role).api_key
        return _without_secret(text, key.get_secret_value() if key else None)

    def _run_config(self, role: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "tags": [f"role:{role}"],
            "metadata": {"role": role, "model": self.model_name(role), **(metadata or {})},
            "run_name": tracing.model_run_name(role, metadata),
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
            patience=cfg.rate_limit_patience,
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
        """One model call with its retries; every attempt is a chat-model run of its own (and a call in `usage`).

        Raises only `EndpointMisconfiguredError` (the run must stop); every other failure is in the result."""
        request, parse, budget = self._request(role, schema)
        usage = RoleUsage()
        attempts: list[BaseException] = []  # each failed attempt's error, for the reason given at the end
        deadline = asyncio.timeout(self.config(role).call_budget)
        value: Any = None
        try:
            async with deadline:
                async for attempt in budget.retrying():
                    with attempt:
                        try:
                            value = await self._attempt(role, request, parse, messages, metadata, usage, attempt)
                        except Exception as exc:
                            attempts.append(exc)
                            raise
        except EndpointMisconfiguredError:
            raise
        except Exception as exc:  # noqa: BLE001 - after the retries any other failure is recorded, not raised
            usage.failures += 1
            return self._failed(role, budget, exc, attempts, usage, out_of_time=deadline.expired())
        return CallResult(value=value, usage=usage)

    async def _attempt(
        self,
        role: str,
        request: Runnable,
        parse: Callable[[Any], Any] | None,
        messages: Sequence[BaseMessage],
        metadata: dict[str, Any] | None,
        usage: RoleUsage,
        attempt: Any,
    ) -> Any:
        breaker = self.breaker(role)
        breaker.check()  # another call may have tripped it while this one waited to retry
        number = attempt.retry_state.attempt_number
        usage.calls += 1
        config = self._run_config(role, metadata)
        if number > 1:
            config["tags"] = [*config["tags"], f"retry:attempt:{number}"]
        client = self.config(role).client
        try:
            message = await self._send(role, request, messages, config)
        except Exception as raised:
            exc = _as_unexpected_reply(raised, client)
            if _misconfiguration(exc, client):
                breaker.fault(role, self._redact(role, _describe(exc)), self.config(role).endpoint_fault_limit)
            if exc is raised:
                raise
            raise exc from raised
        breaker.answered()
        _count_tokens(usage, message)
        _reject_oversized_reply(message, self.config(role).max_tokens)
        _reject_empty_reply(message)
        return parse(message) if parse else message

    async def _send(self, role: str, request: Runnable, messages: Sequence[BaseMessage], config: dict[str, Any]) -> Any:
        cfg = self.config(role)
        if cfg.client != "langchain-openai":
            return await request.ainvoke(list(messages), config)  # the lean client holds its own request slot
        # ChatOpenAI knows no request limit: the same limiter as the lean client's, per endpoint URL.
        limits = RequestLimits(cfg.max_concurrent_requests, cfg.adaptive_concurrency, cfg.requests_per_minute,
                               cfg.tokens_per_minute)  # fmt: skip
        prompt = sum(len(str(m.content)) for m in messages) // 4
        async with endpoint_permit(self.endpoint(role), self.model_name(role), limits, prompt) as permit:
            try:
                message = await request.ainvoke(list(messages), config)
            except Exception as exc:
                permit.failed(exc)
                raise
            permit.outcome(200)
        meta = getattr(message, "usage_metadata", None) or {}
        permit.used_tokens(int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)))
        return message

    def _failed(
        self, role: str, budget: RetryBudget, exc: BaseException, attempts: list[BaseException], usage: RoleUsage,
        out_of_time: bool,
    ) -> CallResult:  # fmt: skip
        last = attempts[-1] if attempts else exc
        error = self._redact(role, _describe(last))
        if out_of_time:
            detail = f" (last error: {error})" if attempts else ""
            error = f"no answer within the call budget of {self.config(role).call_budget:g} s{detail}"
        if isinstance(last, (*budget.malformed, OversizedReplyError, OversizedBodyError)) and not out_of_time:
            return CallResult(usage=usage, error=error)  # the model answered, badly: the caller's verdict
        failure = ModelCallFailed(role, self.endpoint(role), error, _status_of(last), usage)
        return CallResult(usage=usage, error=error, failure=failure)

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
    """langchain-openai's client, for endpoints that need what only it supports; retries stay ours. Its
    connections come from a pool per event loop (see `LoopLocalTransport`), not from the process-wide one."""
    import httpx
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
        http_async_client=httpx.AsyncClient(transport=_CHAT_OPENAI_TRANSPORT, timeout=cfg.timeout),
        **token_limit,
    )


_CHAT_OPENAI_TRANSPORT = LoopLocalTransport()


class EndpointUnreachableError(RuntimeError):
    """A configured endpoint does not answer at all; the message names the roles and the URL."""


def check_endpoints(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, before any document is read, when a remote endpoint cannot be reached or refuses the key.

    `GET <base_url>/models` is sent with each role's key. A refused connection, an unknown host or a timeout
    is `EndpointUnreachableError`; HTTP 401/403 is `EndpointMisconfiguredError` (both exit 2 in the CLI).
    Any other answer counts as reachable (some servers do not list models). The embedded backend is checked
    when it starts.
    """
    import httpx

    roles_by_target: dict[tuple[str, str | None], list[str]] = {}
    for role, cfg in settings.roles.items():
        if not cfg.is_embedded and cfg.base_url:
            key = cfg.api_key.get_secret_value() if cfg.api_key else None
            roles_by_target.setdefault((cfg.base_url.rstrip("/"), key), []).append(role)
    for (url, key), roles in roles_by_target.items():
        headers = {"authorization": f"Bearer {key}"} if key else {}
        try:
            response = httpx.get(f"{url}/models", headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise EndpointUnreachableError(
                f"cannot reach {url} (roles: {', '.join(roles)}): {type(exc).__name__}: {exc}. Is the server "
                "running, and is the base URL right (it usually ends in /v1)?"
            ) from None
        if response.status_code in (401, 403):
            detail = _without_secret(error_detail(response.content), key)
            raise EndpointMisconfiguredError(
                f"{url} refused the API key with HTTP {response.status_code} (roles: {', '.join(roles)}): {detail}. "
                "Check the key (api_key, api_key_env or AUTODATA_<ROLE>_API_KEY) and that it may use this endpoint."
            )

"""A lean LangChain chat model for OpenAI-compatible chat-completions endpoints.

`ChatOpenAI` goes through the OpenAI SDK, which re-validates every request body against its typed schema
and builds pydantic objects for every response: ~5 ms of client CPU per call in
`benchmarks/call_overhead.py`, and httpx's connection pool costs more per request the more connections it
holds (~15 ms of CPU per request at 128 in flight), which capped one process at ~130 calls/s. This model
speaks the same wire protocol (`POST {base_url}/chat/completions`) over one aiohttp session per event loop
(~0.3 ms per request at 128 in flight; httpx for the rare synchronous call), and is still a LangChain
`BaseChatModel`: callbacks, tracing, `bind_tools` and the Runnable protocol work as usual.

It does not retry: a failure raises an `EndpointError`, and `TransientEndpointError` (timeouts, refused
connections, HTTP 408/409/429/5xx, a garbled 200 body) is what `ModelProvider` retries, as it does an empty
reply (`EmptyReplyError`, which the provider detects for either client). Every request holds a slot of its
endpoint's limiter (`autodata.llm.rate_limits`): the requests in flight adapt to the endpoint's 429s, never
above `max_concurrent_requests`, and `requests_per_minute` / `tokens_per_minute` pace them; a finished request
hands its slot to the next waiter before its own response is parsed, so the endpoint is never left idle while
the client is busy.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import aiohttp
import httpx
import orjson
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    convert_to_openai_messages,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, SecretStr

from autodata.llm import rate_limits
from autodata.llm.rate_limits import RequestLimits, endpoint_permit, retry_after_header

OPENAI_BASE_URL = "https://api.openai.com/v1"
_TRANSIENT_STATUS = {408, 409, 429}
# An idle pooled connection is reused only this long. Servers close idle keep-alive connections after their
# own timeout (uvicorn, and so vLLM and SGLang's HTTP servers: 5 s); a client that waits as long or longer
# (aiohttp 15 s, httpx 5 s by default) sometimes sends a request on a connection the server is closing, and
# that request fails ("Can not write request body", "Server disconnected"): documents failed that way in the
# realistic-latency benchmark. A second less and the server's close never meets a reuse.
KEEPALIVE_SECONDS = 4.0
_POOL_LIMITS = httpx.Limits(max_connections=1024, max_keepalive_connections=256, keepalive_expiry=KEEPALIVE_SECONDS)


class EndpointError(RuntimeError):
    """The endpoint refused the request (HTTP 4xx other than 408/409/429): retrying will not help."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientEndpointError(EndpointError):
    """Worth retrying: a timeout, a refused or dropped connection, HTTP 408/409/429/5xx, a garbled body."""


class GarbledResponseError(TransientEndpointError):
    """HTTP 200, but the body is not a chat completion (a proxy's error page, a truncated response)."""


class EmptyReplyError(TransientEndpointError):
    """A chat completion with nothing in it (`content: null`, no tool call) although the model was not cut
    off by its token budget: a broken endpoint, not an empty answer."""


class OversizedBodyError(EndpointError):
    """A response body far larger than the request's token budget allows: the model's (over-long) answer, not
    read further (autodata/llm/models.py records it as a model_error)."""


def body_byte_limit(max_tokens: int) -> int:
    """Bytes a chat completion for `max_tokens` tokens may take: 8 characters per token, each up to 6 bytes as
    escaped JSON, plus the envelope."""
    return 48 * max_tokens + 65_536


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The response body, or OversizedBodyError once it passes `limit` bytes (the rest is never read)."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(65_536):
        size += len(chunk)
        if size > limit:
            raise OversizedBodyError(f"response body longer than {limit:,} bytes for max_tokens; not read further")
        chunks.append(chunk)
    return b"".join(chunks)


_ROLE_OF = {HumanMessage: "user", SystemMessage: "system"}


def _wire_message(message: BaseMessage) -> dict[str, Any]:
    """Plain-text system/user/assistant turns directly; anything richer through LangChain's converter."""
    role = _ROLE_OF.get(type(message)) or ("assistant" if type(message) is AIMessage else None)
    if role and isinstance(message.content, str) and not getattr(message, "tool_calls", None):
        return {"role": role, "content": message.content}
    converted = convert_to_openai_messages([message])
    return converted[0] if isinstance(converted, list) else converted


def error_detail(body: bytes) -> str:
    """The message of an error body (OpenAI's `{"error": {"message": ...}}`, else the text), on one line."""
    try:
        error = orjson.loads(body).get("error")
        text = error.get("message") if isinstance(error, dict) else str(error)
    except (orjson.JSONDecodeError, AttributeError):
        text = body.decode("utf-8", "replace")
    return " ".join(str(text).split())[:300]


def _raise_for_status(status: int, body: bytes, headers: Any, url: str) -> None:
    if status < 400:
        return
    message = f"HTTP {status} from {url}: {error_detail(body)}"
    if status in _TRANSIENT_STATUS or status >= 500:
        raise TransientEndpointError(message, status, retry_after_header(headers))
    raise EndpointError(message, status)


def _lenient_json(text: str) -> Any:
    """Tool arguments as JSON; like LangChain's own tool-call parser, raw newlines inside strings (small
    models write them) are accepted."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, strict=False)


def _tool_calls(raw_calls: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    parsed, invalid = [], []
    for call in raw_calls:
        function = call.get("function") or {}
        name, arguments, call_id = function.get("name"), function.get("arguments") or "{}", call.get("id")
        try:
            args = _lenient_json(arguments) if isinstance(arguments, str) else arguments
        except ValueError as exc:
            invalid.append(invalid_tool_call(name=name, args=arguments, id=call_id, error=str(exc)))
            continue
        if isinstance(args, dict):
            parsed.append(tool_call(name=name, args=args, id=call_id))
        else:
            invalid.append(invalid_tool_call(name=name, args=arguments, id=call_id, error="arguments are not an object"))
    return parsed, invalid


def cached_prompt_tokens(usage: dict[str, Any]) -> int | None:
    """Prompt tokens the server read from its prefix cache, as each server family reports them: OpenAI, vLLM
    and SGLang `prompt_tokens_details.cached_tokens`, Anthropic-style `cache_read_input_tokens`, DeepSeek
    `prompt_cache_hit_tokens`. None when the answer does not say."""
    details = usage.get("prompt_tokens_details") or {}
    for value in (
        details.get("cached_tokens"), usage.get("cache_read_input_tokens"), usage.get("prompt_cache_hit_tokens")
    ):
        if value is not None:
            return int(value)
    return None


def _usage_metadata(usage: dict[str, Any]) -> dict[str, Any] | None:
    """LangChain's usage record (the cached share under `input_token_details.cache_read`, as ChatOpenAI has it)."""
    if not usage:
        return None
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    metadata: dict[str, Any] = {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    cached = cached_prompt_tokens(usage)
    if cached is not None:
        metadata["input_token_details"] = {"cache_read": cached}
    return metadata


def parse_completion(body: bytes, url: str) -> ChatResult:
    """A chat-completions response body as a LangChain result; anything else is a `GarbledResponseError`."""
    try:
        data = orjson.loads(body)
        choice = data["choices"][0]
        wire = choice["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise GarbledResponseError(
            f"{url} answered HTTP 200 with a body that is not a chat completion: {body[:200]!r}", status=200
        ) from None
    tool_calls, invalid_calls = _tool_calls(wire.get("tool_calls") or [])
    extra = {"reasoning_content": wire["reasoning_content"]} if wire.get("reasoning_content") else {}
    usage = data.get("usage") or {}
    message = AIMessage(
        content=wire.get("content") or "",
        tool_calls=tool_calls,
        invalid_tool_calls=invalid_calls,
        additional_kwargs=extra,
        id=data.get("id"),
        response_metadata={"model_name": data.get("model"), "finish_reason": choice.get("finish_reason")},
        usage_metadata=_usage_metadata(usage),
    )
    return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": data.get("model")})


# One connection pool per event loop: an aiohttp session is bound to the loop it was created on.
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, Any]] = (
    weakref.WeakKeyDictionary()
)
_sync_client: httpx.Client | None = None
_sync_lock = threading.Lock()


async def _closed_at_loop_shutdown(close: Callable[[], Awaitable[Any]], forget: Callable[[], Any]) -> Any:
    # An async generator the loop knows about: `asyncio.run` (and pytest's loops) close every live one at
    # shutdown, which closes a connection pool before its loop goes; no "Unclosed client session" warnings.
    # The pools and the slots refer to their loop, so the entries are dropped here, not left to the weak keys.
    try:
        yield
    finally:
        forget()
        await close()


def _forget_loop(loop: asyncio.AbstractEventLoop) -> None:
    _sessions.pop(loop, None)
    rate_limits.forget_loop(loop)


async def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is None or entry[0].closed:
        connector = aiohttp.TCPConnector(
            limit=_POOL_LIMITS.max_connections or 0, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
        )
        # Proxy variables are honoured when set; looking them up costs a thread hop per request otherwise.
        session = aiohttp.ClientSession(connector=connector, trust_env=bool(urllib.request.getproxies()))
        closer = _closed_at_loop_shutdown(session.close, lambda: _forget_loop(loop))
        await closer.__anext__()
        entry = _sessions[loop] = (session, closer)
    return entry[0]


def _shared_sync_client() -> httpx.Client:
    global _sync_client
    with _sync_lock:
        if _sync_client is None:
            _sync_client = httpx.Client(limits=_POOL_LIMITS)
        return _sync_client


class LoopLocalTransport(httpx.AsyncBaseTransport):
    """An httpx transport with one connection pool per event loop, closed with its loop.

    langchain-openai's `ChatOpenAI` shares one default httpx client per (base URL, timeout) across the whole
    process, and a pool's connections belong to the loop that opened them: after a first `asyncio.run`, a
    second one in the same process (benchmark repeats, tests, a reward function per training step) reused
    connections of the closed loop, and those calls failed ("Event loop is closed", "Connection error").
    `ModelProvider` gives `ChatOpenAI` a client on this transport instead.
    """

    def __init__(self, limits: httpx.Limits = _POOL_LIMITS) -> None:
        self.limits = limits
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[httpx.AsyncHTTPTransport, Any]] = (
            weakref.WeakKeyDictionary()
        )

    async def _pool(self) -> httpx.AsyncHTTPTransport:
        loop = asyncio.get_running_loop()
        entry = self._pools.get(loop)
        if entry is None:
            pool = httpx.AsyncHTTPTransport(limits=self.limits)
            closer = _closed_at_loop_shutdown(pool.aclose, lambda: self._pools.pop(loop, None))
            await closer.__anext__()
            entry = self._pools[loop] = (pool, closer)
        return entry[0]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await (await self._pool()).handle_async_request(request)

    async def aclose(self) -> None:
        entry = self._pools.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()


@asynccontextmanager
async def request_slot(endpoint: str, limit: int | None, adaptive: bool = True) -> Any:
    """Hold one slot of `endpoint`'s limiter (at most `limit` in flight; adapting below it unless not
    `adaptive`), for a request that reports nothing back."""
    async with endpoint_permit(endpoint, "", RequestLimits(limit, adaptive)):
        yield


class OpenAICompatibleChatModel(BaseChatModel):
    """Chat completions on any OpenAI-compatible endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp's server)."""

    model: str = Field(description="Model name sent to the endpoint.")
    base_url: str = OPENAI_BASE_URL
    api_key: SecretStr | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    seed: int | None = None
    timeout: float = 180.0
    max_concurrent_requests: int | None = Field(None, description="Requests in flight to this endpoint at once.")
    adaptive_concurrency: bool = Field(True, description="Fewer requests in flight when the endpoint says 429.")
    requests_per_minute: float | None = Field(None, description="Requests sent per minute to this model, at most.")
    tokens_per_minute: float | None = Field(None, description="Prompt + completion tokens per minute, at most.")

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, "temperature": self.temperature}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params.update(ls_provider="openai", ls_model_name=self.model, ls_temperature=self.temperature)
        if self.max_tokens:
            params["ls_max_tokens"] = self.max_tokens
        return params

    @property
    def request_limits(self) -> RequestLimits:
        return RequestLimits(
            self.max_concurrent_requests, self.adaptive_concurrency, self.requests_per_minute, self.tokens_per_minute
        )

    @property
    def _url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _timed_out(self) -> TransientEndpointError:
        return TransientEndpointError(f"no answer from {self._url} within {self.timeout:g} s")

    def _unreachable(self, exc: BaseException) -> TransientEndpointError:
        return TransientEndpointError(f"cannot reach {self._url}: {type(exc).__name__}: {exc}")

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.api_key is not None:
            headers["authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def request_body(self, messages: Sequence[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The JSON body sent for `messages`; `kwargs` are bound request fields (tools, tool_choice, ...)."""
        body: dict[str, Any] = {"model": self.model, "messages": [_wire_message(m) for m in messages]}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body[self.max_tokens_field] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        if stop:
            body["stop"] = stop
        body.update({k: v for k, v in kwargs.items() if v is not None and not k.startswith("ls_")})
        return body

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        content = orjson.dumps(self.request_body(messages, stop, **kwargs))
        try:
            response = _shared_sync_client().post(self._url, content=content, headers=self._headers(), timeout=self.timeout)
        except httpx.TimeoutException:
            raise self._timed_out() from None
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        _raise_for_status(response.status_code, response.content, response.headers, self._url)
        return parse_completion(response.content, self._url)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        content = orjson.dumps(self.request_body(messages, stop, **kwargs))
        session = await _session()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        estimate = rate_limits.estimate_tokens(len(content))
        try:
            async with endpoint_permit(self.base_url, self.model, self.request_limits, estimate) as permit:
                async with session.post(self._url, data=content, headers=self._headers(), timeout=timeout) as response:
                    status, headers = response.status, response.headers
                    body = await read_bounded(response, body_byte_limit(self.max_tokens or 4096))
                permit.outcome(status, retry_after_header(headers))
        except TimeoutError:
            raise self._timed_out() from None
        except aiohttp.ClientError as exc:
            raise self._unreachable(exc) from None
        _raise_for_status(status, body, headers, self._url)
        result = parse_completion(body, self._url)
        usage = result.generations[0].message.usage_metadata
        if usage:
            permit.used_tokens(usage["input_tokens"], usage["output_tokens"])
        return result

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer `tools` (pydantic models, functions or OpenAI tool dicts); a tool's name forces that tool."""
        wire_tools = [convert_to_openai_tool(tool) for tool in tools]
        if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
            tool_choice = "required" if tool_choice == "any" else {"type": "function", "function": {"name": tool_choice}}
        return self.bind(tools=wire_tools, tool_choice=tool_choice, **kwargs)

"""A fake OpenAI-compatible chat server on loopback, for fault tests, benchmarks and the served-graph test.

It is a real HTTP server (Starlette on uvicorn, asyncio), so the production model layer (`ChatOpenAI`, the
OpenAI client's retries and timeouts) is exercised end to end. It serves `POST /v1/chat/completions`
(plain and streamed; `tools`/`tool_choice` answered with a `tool_calls` message) and `GET /v1/models`.

- Answers come from a script `(role_or_model, messages, tool_name) -> dict | str` (the same contract as
  `tests.support.scripted`): a dict is a tool call's arguments, a str is the reply text. The role is the
  request's `model` field mapped through `roles` (default: the model name itself, so tests configure
  `AUTODATA_<ROLE>_MODEL=<role>`; see `settings_env`).
- `latency` seconds are added to every answered request (faults that reject, 429/500, come back at once);
  with `latency_sigma` > 0 each request's latency is drawn from a log-normal whose median is `latency`
  (sigma 0.866: p99 = 7.5 x the median, e.g. median 2 s, p99 15 s), seeded by `seed`.
- `prefix_cache_block` > 0 reports `usage.prompt_tokens_details.cached_tokens` the way vLLM's automatic prefix
  caching finds them: the prompt (in the fake's own tokens, words) is cut into blocks of that many tokens, and
  a request's cached tokens are its leading blocks whose whole prefix an earlier request to the same model had.
- `FaultPlan` injects faults: HTTP 429, HTTP 500, a hang past the client's timeout, an invalid (cut-off) JSON
  body, malformed tool arguments; by schedule (the n-th request gets schedule[n]) and/or at a seeded rate. The
  rate is decided by hashing (seed, request body, how often that body was seen), so which requests fail does
  not depend on the arrival order of concurrent requests: a seeded run is reproducible. Faults of a broken or
  misconfigured endpoint can be scheduled or drawn too (they are not in the default `kinds`): HTTP 401 and
  403, an HTML page with HTTP 200, a completion with no choices, a message with `content: null`, and the
  endpoint down (HTTP 503 from a proxy in front of it); `outage=(first, last)` takes it down for that range
  of requests, after which it is up again.
- `api_key`: when set, every request without `Authorization: Bearer <api_key>` gets HTTP 401 (models too).
- Rate limits as hosted APIs and gateways apply them, answered with HTTP 429 and a Retry-After (recorded as
  `RATE_LIMIT` faults): `max_in_flight` serves that many requests at once and refuses the rest
  (`Retry-After: in_flight_retry_after` seconds); `window=(n, seconds)` serves n requests per sliding window
  and refuses the rest until the oldest leaves it (`retry-after-ms`). `stats()["peak_in_flight"]` is the most
  requests it served at once.

`FakeOpenAIServer` runs in a background thread of the test process; `FakeOpenAIProcess` runs the same server
in a child process (for benchmarks, so the server's CPU does not count against the client's). Both are
context managers on a free port and stop only what they started.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import itertools
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from langchain_core.messages import BaseMessage, convert_to_messages
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from autodata.state.schemas import ROLES

RATE_LIMIT = "429"
SERVER_ERROR = "500"
HANG = "hang"
INVALID_JSON = "invalid_json"
MALFORMED_TOOL_ARGS = "malformed_tool_args"
FAULT_KINDS = (RATE_LIMIT, SERVER_ERROR, HANG, INVALID_JSON, MALFORMED_TOOL_ARGS)  # what a rate draws by default
UNAUTHORIZED = "401"
FORBIDDEN = "403"
HTML_PAGE = "html"
EMPTY_CHOICES = "empty_choices"
NULL_CONTENT = "null_content"
DOWN = "down"
ENDPOINT_FAULTS = (UNAUTHORIZED, FORBIDDEN, HTML_PAGE, EMPTY_CHOICES, NULL_CONTENT, DOWN)
ALL_FAULT_KINDS = FAULT_KINDS + ENDPOINT_FAULTS
TIMER_SLACK = 0.002  # seconds before a latency deadline that a request stops sleeping and starts yielding

Script = Callable[[str, list[BaseMessage], str | None], Any]
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_script(role: str, messages: list[BaseMessage], tool_name: str | None) -> Any:
    return {} if tool_name else "ok"


def _unit_hash(*parts: Any) -> tuple[float, float]:
    """Two independent uniforms in [0, 1) from the parts: one decides whether, the other which."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    scale = float(2**64)
    return int.from_bytes(digest[:8], "big") / scale, int.from_bytes(digest[8:16], "big") / scale


@dataclass
class FaultPlan:
    """Which requests fail, and how. `schedule[n]` (a fault kind or None) applies to the n-th request
    received; requests past the schedule fail at `rate`, the kind drawn from `kinds`."""

    rate: float = 0.0
    kinds: Sequence[str] = FAULT_KINDS
    seed: int = 0
    schedule: Sequence[str | None] = ()
    outage: tuple[int, int] | None = None  # requests first..last (inclusive, by arrival) find the endpoint down

    def __post_init__(self) -> None:
        unknown = {k for k in [*self.kinds, *self.schedule] if k is not None} - set(ALL_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {ALL_FAULT_KINDS}")

    def choose(self, index: int, body_key: str, occurrence: int, wants_tool: bool) -> str | None:
        if self.outage is not None and self.outage[0] <= index <= self.outage[1]:
            return DOWN
        if index < len(self.schedule):
            return self.schedule[index]
        if self.rate <= 0:
            return None
        whether, which = _unit_hash(self.seed, body_key, occurrence)
        if whether >= self.rate:
            return None
        kinds = [k for k in self.kinds if wants_tool or k != MALFORMED_TOOL_ARGS] or [SERVER_ERROR]
        return kinds[int(which * len(kinds))]


@dataclass
class FakeRequest:
    """One request as the server saw it (kept in order of arrival)."""

    index: int
    model: str
    role: str
    tool: str | None
    tool_call: bool  # answered with a tool call (tools given), else with content (json_schema, plain text)
    stream: bool
    fault: str | None
    arrived: float
    messages: list[dict[str, Any]] = field(repr=False, default_factory=list)
    latency: float = 0.0  # seconds this request was to take
    answered: float | None = None  # time.monotonic() when its answer was sent


def _tool_name(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("function"):
        return choice["function"]["name"]
    if body.get("tools"):
        return body["tools"][0]["function"]["name"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"].get("name")
    return None


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return " ".join(str(m.get("content") or "") for m in messages)


class PrefixCache:
    """vLLM-style automatic prefix caching over token blocks: each full block is named by a hash of the whole
    prompt up to its end, so a block is cached only when everything before it was too. Least recently used
    blocks are evicted past `capacity`."""

    def __init__(self, block: int, capacity: int = 200_000) -> None:
        self.block = block
        self.capacity = capacity
        self._blocks: OrderedDict[bytes, None] = OrderedDict()

    def cached_tokens(self, tokens: Sequence[str]) -> int:
        """Tokens at the start of `tokens` that were cached; the prompt's blocks are cached from now on."""
        cached, prefix, hit = 0, b"", True
        for start in range(0, len(tokens) - self.block + 1, self.block):
            block_text = " ".join(tokens[start : start + self.block]).encode()
            prefix = hashlib.blake2b(prefix + block_text, digest_size=16).digest()
            hit = hit and prefix in self._blocks
            cached += self.block if hit else 0
            self._blocks[prefix] = None
            self._blocks.move_to_end(prefix)
        while len(self._blocks) > self.capacity:
            self._blocks.popitem(last=False)
        return cached


class FakeOpenAI:
    """The server's behaviour, independent of how it is hosted (thread or child process)."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        hang_seconds: float = 30.0,
        roles: Mapping[str, str] | None = None,
        retry_after: float | None = None,
        api_key: str | None = None,
        latency_sigma: float = 0.0,
        seed: int = 0,
        prefix_cache_block: int = 0,
        max_in_flight: int | None = None,
        in_flight_retry_after: float = 1.0,
        window: tuple[int, float] | None = None,
    ) -> None:
        self.script = script or default_script
        self.max_in_flight = max_in_flight
        self.in_flight_retry_after = in_flight_retry_after
        self.window = window
        self._window_arrivals: deque[float] = deque()
        self._in_flight = self.peak_in_flight = 0
        self.api_key = api_key
        self.latency = latency
        self.latency_sigma = latency_sigma
        self._latency_draws = random.Random(seed)
        self.prefix_cache_block = prefix_cache_block
        self._prefix_caches: dict[str, PrefixCache] = {}
        self.faults = faults or FaultPlan()
        self.hang_seconds = hang_seconds
        self.roles = dict(roles or {})
        self.retry_after = retry_after
        self.requests: list[FakeRequest] = []
        self._seen: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._released: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
                Route("/v1/models", self.list_models, methods=["GET"]),
                Route("/_fake/stats", self.stats_endpoint, methods=["GET"]),
                Route("/_fake/timeline", self.timeline_endpoint, methods=["GET"]),
            ]
        )

    # -- bookkeeping ------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return {
            "requests": len(self.requests),
            "faults": dict(Counter(r.fault for r in self.requests if r.fault)),
            "roles": dict(Counter(r.role for r in self.requests)),
            "peak_in_flight": self.peak_in_flight,
        }

    def timeline(self) -> list[tuple[float, float | None, str]]:
        """(arrived, answered, role) per request in order of arrival, in the server's `time.monotonic()`
        seconds; answered is None for a request that got no answer."""
        return [(r.arrived, r.answered, r.role) for r in self.requests]

    def _draw_latency(self) -> float:
        if self.latency_sigma <= 0:
            return self.latency
        return self.latency * math.exp(self._latency_draws.gauss(0.0, self.latency_sigma))

    def release_hangs(self) -> None:
        """Ends every hanging request now; safe to call from any thread (the test's, on stop)."""
        if self._released is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._released.set)

    def _record(self, body: dict[str, Any]) -> FakeRequest:
        model = str(body.get("model", ""))
        tool = _tool_name(body)
        body_key = hashlib.sha256(json.dumps([model, body.get("messages"), tool], sort_keys=True).encode()).hexdigest()
        occurrence = self._seen[body_key]
        self._seen[body_key] += 1
        index = len(self.requests)
        request = FakeRequest(
            index=index,
            model=model,
            role=self.roles.get(model, model),
            tool=tool,
            tool_call=bool(body.get("tools")),
            stream=bool(body.get("stream")),
            fault=self.faults.choose(index, body_key, occurrence, wants_tool=tool is not None),
            arrived=time.monotonic(),
            messages=list(body.get("messages") or []),
            latency=self._draw_latency(),
        )
        self.requests.append(request)
        return request

    # -- endpoints --------------------------------------------------------------------------------------
    def _refuses_key(self, request: Request) -> bool:
        return self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}"

    def _unauthorized(self) -> JSONResponse:
        return self._error(401, "invalid_api_key", "Incorrect API key provided")

    async def list_models(self, request: Request) -> JSONResponse:
        if self._refuses_key(request):
            return self._unauthorized()
        names = sorted(set(self.roles) | set(ROLES))
        return JSONResponse({"object": "list", "data": [{"id": n, "object": "model", "owned_by": "fake"} for n in names]})

    async def stats_endpoint(self, request: Request) -> JSONResponse:
        return JSONResponse(self.stats())

    async def timeline_endpoint(self, request: Request) -> JSONResponse:
        return JSONResponse(self.timeline())

    async def chat_completions(self, request: Request) -> Response:
        started = time.monotonic()
        body = await request.json()
        fake = self._record(body)
        refusal = self._over_rate_limit(fake)
        if refusal is not None:
            return refusal
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            return await self._serve(request, body, fake, started)
        finally:
            self._in_flight -= 1

    def _over_rate_limit(self, fake: FakeRequest) -> Response | None:
        """HTTP 429 with a Retry-After past `max_in_flight` requests at once or `window` requests per window."""
        now = time.monotonic()
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            fake.fault = RATE_LIMIT
            headers = {"retry-after": f"{self.in_flight_retry_after:g}"}
            return self._error(429, "rate_limit_exceeded", "Too many requests in flight", headers)
        if self.window is not None:
            allowed, seconds = self.window
            while self._window_arrivals and self._window_arrivals[0] <= now - seconds:
                self._window_arrivals.popleft()
            if len(self._window_arrivals) >= allowed:
                fake.fault = RATE_LIMIT
                wait_ms = max(1, int((self._window_arrivals[0] + seconds - now) * 1000))
                return self._error(429, "rate_limit_exceeded", "Requests per window exceeded", {"retry-after-ms": str(wait_ms)})
            self._window_arrivals.append(now)
        return None

    async def _serve(self, request: Request, body: dict[str, Any], fake: FakeRequest, started: float) -> Response:
        if self._refuses_key(request) or fake.fault == UNAUTHORIZED:
            return self._unauthorized()
        endpoint_fault = self._endpoint_fault(fake)
        if endpoint_fault is not None:
            return endpoint_fault
        if fake.fault == RATE_LIMIT:
            return self._error(429, "rate_limit_exceeded", "Rate limit reached (injected fault)")
        if fake.fault == SERVER_ERROR:
            return self._error(500, "server_error", "The server had an error (injected fault)")
        if fake.fault == HANG:
            await self._hang()
            return self._error(504, "timeout", "hung past the client's timeout (injected fault)")
        if fake.fault == INVALID_JSON:
            await self._answer_after(started, fake)
            return Response('{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
        try:
            reply = self.script(fake.role, convert_to_messages(fake.messages), fake.tool)
        except Exception as exc:  # noqa: BLE001 - a raising script simulates a failing endpoint
            await self._answer_after(started, fake)
            return self._error(500, "script_error", f"{type(exc).__name__}: {exc}")
        message, finish = self._message(fake, reply)
        usage = self._usage(fake, message)
        await self._answer_after(started, fake)
        if fake.stream:
            return StreamingResponse(self._sse(fake, message, finish, usage, body), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": fake.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
        )

    # -- pieces -----------------------------------------------------------------------------------------
    def _endpoint_fault(self, fake: FakeRequest) -> Response | None:
        """The answer of a broken or misconfigured endpoint, when one is planned for this request."""
        if fake.fault == FORBIDDEN:
            return self._error(403, "permission_denied", "You are not allowed to use this model")
        if fake.fault == DOWN:
            page = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"
            return Response(page, status_code=503, media_type="text/html")
        if fake.fault == HTML_PAGE:
            return Response("<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>", media_type="text/html")
        if fake.fault == EMPTY_CHOICES:
            return JSONResponse({"id": "chatcmpl-empty", "object": "chat.completion", "model": fake.model, "choices": []})
        if fake.fault == NULL_CONTENT:
            choice = {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}
            body = {"id": "chatcmpl-null", "object": "chat.completion", "model": fake.model, "choices": [choice]}
            return JSONResponse(body)
        return None

    async def _answer_after(self, started: float, fake: FakeRequest) -> None:
        """Answer the request's latency after it arrived (`time.monotonic()`): the server's own work is
        inside L, not on top.

        Event-loop timers fire up to a millisecond or two late, and uvloop's `loop.time()` moves in whole
        milliseconds (libuv's cached clock): together 2% of L=50 ms in the benchmarks. So the timer wakes the
        request early and it yields to the loop until the deadline by the system clock; other requests keep
        being served meanwhile.
        """
        if fake.latency > 0:
            deadline = started + fake.latency
            early = deadline - TIMER_SLACK - time.monotonic()
            if early > 0:
                await asyncio.sleep(early)
            while time.monotonic() < deadline:
                await asyncio.sleep(0)
        fake.answered = time.monotonic()

    def _error(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
        if headers is None:
            headers = {"retry-after-ms": str(int(self.retry_after * 1000))} if self.retry_after is not None else {}
        return JSONResponse({"error": {"message": text, "type": code, "code": code}}, status_code=status, headers=headers)

    async def _hang(self) -> None:
        if self._released is None:
            self._released, self._loop = asyncio.Event(), asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._released.wait(), self.hang_seconds)
        except TimeoutError:
            pass

    def _message(self, fake: FakeRequest, reply: Any) -> tuple[dict[str, Any], str]:
        if isinstance(reply, dict):
            reply = json.dumps(reply)
        if fake.tool is not None and fake.fault == MALFORMED_TOOL_ARGS:
            # Alternate the two ways models get it wrong: arguments that are not JSON, or the wrong shape.
            reply = '{"unterminated": ' if fake.index % 2 else json.dumps({"not_a_field": True})
        if fake.tool_call:
            return self._tool_message(fake, str(reply)), "tool_calls"
        return {"role": "assistant", "content": str(reply)}, "stop"

    def _tool_message(self, fake: FakeRequest, arguments: str) -> dict[str, Any]:
        call = {"id": f"call_{fake.index}", "type": "function", "function": {"name": fake.tool, "arguments": arguments}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    def _usage(self, fake: FakeRequest, message: dict[str, Any]) -> dict[str, Any]:
        calls = message.get("tool_calls") or []
        answer = message.get("content") or " ".join(c["function"]["arguments"] for c in calls)
        prompt_text = _prompt_text(fake.messages)
        prompt, completion = _count_tokens(prompt_text), _count_tokens(answer)
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = prompt + completion
        if self.prefix_cache_block > 0:
            cache = self._prefix_caches.setdefault(fake.model, PrefixCache(self.prefix_cache_block))
            usage["prompt_tokens_details"] = {"cached_tokens": cache.cached_tokens(prompt_text.split())}
        return usage

    async def _sse(
        self, fake: FakeRequest, message: dict[str, Any], finish: str, usage: dict[str, Any], body: dict[str, Any]
    ) -> Any:
        base = {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion.chunk", "created": int(time.time()), "model": fake.model}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
            choices = [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}] if delta is not None else []
            return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            calls = [{"index": 0, **call} for call in message["tool_calls"]]
            yield chunk({"tool_calls": calls})
        else:
            for i, word in enumerate((message["content"] or "").split(" ")):
                yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            yield chunk(None, usage=usage)
        yield "data: [DONE]\n\n"


def settings_env(base_url: str, **extra: str) -> dict[str, str]:
    """Environment for `load_settings(env=...)`: every role on the fake server, its model named after it."""
    env = {"AUTODATA_BASE_URL": base_url}
    env.update({f"AUTODATA_{role.upper()}_MODEL": role for role in ROLES})
    env.update(extra)
    return env


def _loopback_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def unused_port() -> int:
    """A loopback port nothing listens on right now (for connection-refused tests)."""
    with _loopback_socket() as sock:
        return sock.getsockname()[1]


def _uvicorn_server(app: Any, loop: str = "asyncio") -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", loop=loop, timeout_graceful_shutdown=1)
    return uvicorn.Server(config)


class FakeOpenAIServer:
    """`FakeOpenAI` served from a background thread of this process on a free loopback port (or `port`)."""

    def __init__(self, script: Script | None = None, *, port: int = 0, **options: Any) -> None:
        self.fake = FakeOpenAI(script, **options)
        self._sock = _loopback_socket(port)
        self.port = self._sock.getsockname()[1]
        self._server = _uvicorn_server(self.fake.app)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[FakeRequest]:
        return self.fake.requests

    def stats(self) -> dict[str, Any]:
        return self.fake.stats()

    def settings_env(self, **extra: str) -> dict[str, str]:
        return settings_env(self.base_url, **extra)

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="fake-openai")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self.fake.release_hangs()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._thread = None
        self._sock.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class FakeOpenAIProcess:
    """The same server in a child process. The script is named `module:attribute` (importable there)."""

    def __init__(
        self, script: str | None = None, *, latency: float = 0.0, fault_rate: float = 0.0, seed: int = 0,
        latency_sigma: float = 0.0, prefix_cache_block: int = 0, max_in_flight: int | None = None,
        in_flight_retry_after: float = 1.0, window: tuple[int, float] | None = None,
    ) -> None:  # fmt: skip
        self.args = ["--latency", str(latency), "--fault-rate", str(fault_rate), "--seed", str(seed),
                     "--latency-sigma", str(latency_sigma), "--prefix-cache-block", str(prefix_cache_block),
                     "--in-flight-retry-after", str(in_flight_retry_after)]
        if max_in_flight is not None:
            self.args += ["--max-in-flight", str(max_in_flight)]
        if window is not None:
            self.args += ["--window", str(window[0]), str(window[1])]
        if script:
            self.args += ["--script", script]
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def settings_env(self, **extra: str) -> dict[str, str]:
        return settings_env(self.base_url, **extra)

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/_fake/stats", timeout=10).json()

    def timeline(self) -> list[tuple[float, float | None, str]]:
        """(arrived, answered, role) per request, in the server process's `time.monotonic()` seconds."""
        return [tuple(pair) for pair in httpx.get(f"http://127.0.0.1:{self.port}/_fake/timeline", timeout=60).json()]

    def start(self) -> FakeOpenAIProcess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, "-m", "tests.support.fake_openai", *self.args]
        self._proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"fake OpenAI server process did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> FakeOpenAIProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _load_script(spec: str | None) -> Script | None:
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server on a free loopback port.")
    parser.add_argument("--script", help="module:attribute of a script callable")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-sigma", type=float, default=0.0, help="log-normal spread around --latency")
    parser.add_argument("--prefix-cache-block", type=int, default=0, help="report cached prompt tokens (block size)")
    parser.add_argument("--max-in-flight", type=int, help="answer 429 past this many requests at once")
    parser.add_argument("--in-flight-retry-after", type=float, default=1.0, help="Retry-After of those 429s")
    parser.add_argument("--window", nargs=2, metavar=("N", "SECONDS"), help="answer 429 past N requests per window")
    args = parser.parse_args(argv)
    window = (int(args.window[0]), float(args.window[1])) if args.window else None
    fake = FakeOpenAI(
        _load_script(args.script), latency=args.latency, faults=FaultPlan(rate=args.fault_rate, seed=args.seed),
        latency_sigma=args.latency_sigma, seed=args.seed, prefix_cache_block=args.prefix_cache_block,
        max_in_flight=args.max_in_flight, in_flight_retry_after=args.in_flight_retry_after, window=window,
    )  # fmt: skip
    sock = _loopback_socket()
    sock.listen(1024)  # connections made before uvicorn starts wait in the backlog instead of being refused
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    _uvicorn_server(fake.app, loop="auto").run(sockets=[sock])


if __name__ == "__main__":
    main()

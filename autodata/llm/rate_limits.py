"""How many requests go to an endpoint at once, and how fast: adaptive concurrency and RPM/TPM budgets.

Users rarely know the limit of the endpoint they use (a hosted API's tier, a gateway in front of a loaded
vLLM), and it changes with load. So each endpoint gets an `EndpointLimiter` that finds it, with the rule TCP
uses for the same problem (additive increase, multiplicative decrease):

- It starts at the user's limit (`max_concurrent_requests`, `generate --max-requests`), or at
  `INITIAL_LIMIT` when none is set, and never goes above the user's limit.
- Each clean answer while the limit is in use raises it: by one per answer until the first sign of
  overload ("slow start": the limit doubles per round trip), by one per round trip after that.
- An answer that says "too many" (HTTP 429, HTTP 503, a Retry-After header) cuts it: to half on the first
  one, to `BACKOFF` of itself later. Only once per round trip: the answers of requests sent before the cut
  say nothing about the new limit.
- Latency rising well above its running average (`LATENCY_TOLERANCE` times) cuts it by `LATENCY_BACKOFF`,
  at most once per `LATENCY_COOLDOWN` seconds: a queue building up in front of the server. Mild and rare
  on purpose: a server that batches requests (vLLM) answers more slowly as it serves more, and that is
  throughput, not overload.

`RateBudget` paces requests (`requests_per_minute`) or tokens (`tokens_per_minute`, prompt + completion as
the server reports them) so a run stays inside a provider's published limits from the first request: each
request is spaced `cost / rate` after the one before. A request's tokens are not known before its answer;
it is charged an estimate up front (its prompt, plus the average completion so far) and the difference
when the answer says how many it used.

The limiters and budgets live per event loop (their futures belong to one), keyed by endpoint: every role on
the same base URL with the same setting shares one (roles given different values are budgeted apart). `snapshot()` reads them for the progress display and
stats.json; `is_backpressure` tells the retry layer which failures are "slow down" rather than faults.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

INITIAL_LIMIT = 16  # requests in flight to an endpoint with no user limit, before it has answered anything
MAX_LIMIT = 1024  # the connection pool's size
BACKOFF = 0.7  # the limit's share kept after a "too many" answer (after the first, which halves it)
LATENCY_TOLERANCE = 2.0  # recent latency this many times the running average counts as a queue building up
LATENCY_BACKOFF = 0.9
LATENCY_COOLDOWN = 10.0  # seconds between two latency cuts
LATENCY_WARMUP = 20  # answers before latency is judged at all
HISTORY_STEP = 1.0  # seconds: the recorded limit keeps at most one point per step (the last of it)
HISTORY_POINTS = 600  # beyond this the recorded history is thinned to every other point
BACKPRESSURE_STATUS = 429
OVERLOADED_STATUS = 503


@dataclass(frozen=True)
class RequestLimits:
    """What one role asks of its endpoint's limiter (from its RoleConfig)."""

    max_concurrent: int | None = None
    adaptive: bool = True
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


def estimate_tokens(payload_bytes: int) -> int:
    """Tokens of a request body, roughly (about four bytes a token for English JSON)."""
    return max(1, payload_bytes // 4)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def retry_after_of(exc: BaseException) -> float | None:
    """The wait an error's answer asked for: autodata's client keeps it on the error, the OpenAI SDK's
    errors keep the response (its `retry-after-ms` / `retry-after` headers)."""
    asked = getattr(exc, "retry_after", None)
    if asked is not None:
        return float(asked)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return retry_after_header(headers) if headers is not None else None


def retry_after_header(headers: Any) -> float | None:
    """Seconds an answer's headers ask us to wait (`retry-after-ms`, OpenAI's, or the standard `retry-after`)."""
    for header, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                return None
    return None


def is_backpressure(exc: BaseException | None) -> bool:
    """True for "slow down" answers: HTTP 429 (except an exhausted quota, which waiting does not fix) and
    HTTP 503 with a Retry-After. A 503 without one is an endpoint that is down: a fault, retried as one."""
    if exc is None:
        return False
    status = _status(exc)
    if status == BACKPRESSURE_STATUS:
        return "insufficient_quota" not in str(exc)
    return status == OVERLOADED_STATUS and retry_after_of(exc) is not None


def signals_overload(status: int | None, retry_after: float | None) -> bool:
    """An answer that should shrink the concurrency: 429, any 503, any Retry-After."""
    return status in (BACKPRESSURE_STATUS, OVERLOADED_STATUS) or retry_after is not None


class RateBudget:
    """Spaces out what is spent (requests or tokens) to `per_minute`; an estimate charged up front is
    corrected by `settle`. No credit is saved up while idle, so there is never a burst above the rate."""

    def __init__(self, per_minute: float) -> None:
        self.per_second = per_minute / 60.0
        self._next_free = 0.0
        self._lock = asyncio.Lock()

    async def spend(self, cost: float) -> None:
        async with self._lock:  # one waiter at a time, in arrival order
            delay = self._next_free - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_free = max(self._next_free, time.monotonic()) + cost / self.per_second

    def settle(self, difference: float) -> None:
        """Charge (or give back) what the estimate missed."""
        self._next_free += difference / self.per_second


class EndpointLimiter:
    """Requests in flight to one endpoint, under a limit that adapts (see the module's docstring)."""

    def __init__(self, endpoint: str, ceiling: int | None, adaptive: bool) -> None:
        self.endpoint = endpoint
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.limit = float(ceiling or INITIAL_LIMIT) if adaptive or ceiling else math.inf
        self.in_flight = 0
        self.epoch = 0  # bumped by every cut: a request's answer may cut only if sent after the last one
        self.slow_start = True
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._started = time.monotonic()
        self._fast_latency = self._slow_latency = 0.0
        self._answers = 0
        self._last_latency_cut = -math.inf
        self.requests = self.backpressure = 0
        self.history: list[list[float]] = [[0.0, self.current]]

    @property
    def current(self) -> int:
        """Requests that may be in flight now."""
        return MAX_LIMIT if math.isinf(self.limit) else max(1, int(self.limit))

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> int:
        """Wait for a slot; returns the epoch the request is sent in."""
        self.requests += 1
        if self.in_flight < self.current and not self._waiters:
            self.in_flight += 1
            return self.epoch
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # `_wake` counts this request in flight before it resolves the future
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as the request was cancelled
            else:
                self._waiters.remove(waiter)
            raise
        return self.epoch

    def release(self) -> bool:
        """Give the slot back; True when a waiter got it."""
        self.in_flight -= 1
        return self._wake()

    def _wake(self) -> bool:
        woke = False
        while self._waiters and self.in_flight < self.current:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
                woke = True
        return woke

    def answered(self, epoch: int, latency: float) -> None:
        """A clean answer: the limit grows, if it was in use (an idle limit proves nothing)."""
        queueing = self._latency_rose(latency)
        if not self.adaptive:
            return
        saturated = self.in_flight >= self.current or bool(self._waiters)
        if queueing and saturated and not self.slow_start:
            # Only once a 429 has shown the endpoint has a limit: while the limit is still being found, a
            # server that batches answers more slowly as it is given more, and that is what is wanted.
            self._last_latency_cut = time.monotonic()
            self._cut(LATENCY_BACKOFF)
            return
        if saturated and epoch == self.epoch:
            step = 1.0 if self.slow_start else 1.0 / max(1.0, self.limit)
            self._set(min(self.limit + step, float(self.ceiling or MAX_LIMIT)))
            self._wake()

    def pushed_back(self, epoch: int) -> None:
        """A "too many" answer: cut the limit, once per round trip."""
        self.backpressure += 1
        if self.adaptive and epoch == self.epoch:
            self._cut(0.5 if self.slow_start else BACKOFF)
            self.slow_start = False

    def _latency_rose(self, latency: float) -> bool:
        """True when recent answers take `LATENCY_TOLERANCE` times the running average (and no latency cut
        came in the last `LATENCY_COOLDOWN` seconds)."""
        self._answers += 1
        if self._answers == 1:
            self._fast_latency = self._slow_latency = latency
        self._fast_latency += 0.2 * (latency - self._fast_latency)
        self._slow_latency += 0.02 * (latency - self._slow_latency)
        return (
            self._answers > LATENCY_WARMUP
            and self._fast_latency > LATENCY_TOLERANCE * self._slow_latency
            and time.monotonic() - self._last_latency_cut > LATENCY_COOLDOWN
        )

    def _cut(self, factor: float) -> None:
        self.epoch += 1
        self._set(max(1.0, self.limit * factor))

    def _set(self, limit: float) -> None:
        before = self.current
        self.limit = limit
        if self.current != before:
            self._record()

    def _record(self) -> None:
        at = round(time.monotonic() - self._started, 2)
        same_step = len(self.history) > 1 and at // HISTORY_STEP == self.history[-1][0] // HISTORY_STEP
        if same_step:
            self.history[-1] = [at, self.current]
        else:
            self.history.append([at, self.current])
        if len(self.history) > HISTORY_POINTS:
            self.history = self.history[:1] + self.history[1::2]

    def snapshot(self) -> dict[str, Any]:
        """The limiter's state for stats.json: the limit now and over time ([seconds, limit] points)."""
        return {
            "limit": self.current,
            "ceiling": self.ceiling,
            "adaptive": self.adaptive,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "backpressure": self.backpressure,
            "history": [list(point) for point in self.history],
        }


@dataclass
class Permit:
    """One request's hold on its endpoint: what it reports back once answered."""

    limiter: EndpointLimiter
    epoch: int
    sent: float
    tokens: RateBudget | None
    charged: int
    completions: _CompletionAverage | None

    def outcome(self, status: int | None, retry_after: float | None = None) -> None:
        """How the endpoint answered (an HTTP status; None when no answer came)."""
        if signals_overload(status, retry_after):
            self.limiter.pushed_back(self.epoch)
        elif status is not None and status < 400:
            self.limiter.answered(self.epoch, time.monotonic() - self.sent)

    def failed(self, exc: BaseException) -> None:
        """The request raised (the OpenAI SDK raises for every error status)."""
        status = _status(exc)
        if status is not None:
            self.outcome(status, retry_after_of(exc))

    def used_tokens(self, prompt: int, completion: int) -> None:
        """The tokens the server reported: the token budget is charged the difference from the estimate."""
        if self.tokens is not None and self.completions is not None:
            self.completions.add(completion)
            self.tokens.settle(prompt + completion - self.charged)
            self.charged = prompt + completion


class _CompletionAverage:
    """Completion tokens per answer so far: the guess for a request not yet answered."""

    def __init__(self) -> None:
        self.total = self.count = 0

    def add(self, tokens: int) -> None:
        self.total, self.count = self.total + tokens, self.count + 1

    @property
    def mean(self) -> int:
        return self.total // self.count if self.count else 0


@dataclass
class _EndpointState:
    limiters: dict[tuple[str, int | None, bool], EndpointLimiter]
    budgets: dict[tuple[str, str, float], RateBudget]
    completions: dict[tuple[str, str], _CompletionAverage]


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _EndpointState] = weakref.WeakKeyDictionary()


def loop_state(loop: asyncio.AbstractEventLoop | None = None) -> _EndpointState:
    loop = loop or asyncio.get_running_loop()
    state = _states.get(loop)
    if state is None:
        state = _states[loop] = _EndpointState({}, {}, {})
    return state


def forget_loop(loop: asyncio.AbstractEventLoop) -> None:
    _states.pop(loop, None)


def limiter(endpoint: str, limits: RequestLimits) -> EndpointLimiter:
    """The running loop's limiter for `endpoint` with these settings (made on first use)."""
    key = (endpoint, limits.max_concurrent, limits.adaptive)
    limiters = loop_state().limiters
    if key not in limiters:
        limiters[key] = EndpointLimiter(endpoint, limits.max_concurrent, limits.adaptive)
    return limiters[key]


def _budget(endpoint: str, kind: str, per_minute: float) -> RateBudget:
    budgets = loop_state().budgets
    key = (endpoint, kind, per_minute)
    if key not in budgets:
        budgets[key] = RateBudget(per_minute)
    return budgets[key]


@asynccontextmanager
async def endpoint_permit(
    endpoint: str, model: str, limits: RequestLimits, prompt_tokens: int = 0
) -> AsyncIterator[Permit]:
    """Hold a slot of `endpoint` (then its RPM/TPM turn) for one request. The request reports its answer
    through the permit; a finished request hands its slot to the next waiter before its answer is parsed,
    so the endpoint is never left idle while the client is busy."""
    slots = limiter(endpoint, limits)
    epoch = await slots.acquire()
    try:
        tokens, completions, charged = None, None, 0
        if limits.requests_per_minute:
            await _budget(endpoint, "requests", limits.requests_per_minute).spend(1)
        if limits.tokens_per_minute:
            tokens = _budget(endpoint, "tokens", limits.tokens_per_minute)
            completions = loop_state().completions.setdefault((endpoint, model), _CompletionAverage())
            charged = prompt_tokens + completions.mean
            await tokens.spend(charged)
        permit = Permit(slots, epoch, time.monotonic(), tokens, charged, completions)
        yield permit
    finally:
        if slots.release():
            # Let the waiter just woken send its request before this task goes on to parse its answer.
            await asyncio.sleep(0)


def snapshot(endpoints: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every loop's limiters (of `endpoints`, when given), by endpoint. Safe to call from another thread
    (the progress display's): it only reads."""
    found: dict[str, dict[str, Any]] = {}
    try:
        states = [(key, slots) for state in list(_states.values()) for key, slots in list(state.limiters.items())]
    except RuntimeError:  # a loop or a limiter was added meanwhile: the next refresh will show it
        return found
    for (endpoint, ceiling, adaptive), slots in states:
            if endpoints is None or endpoint in endpoints:
                name = endpoint if endpoint not in found else f"{endpoint} (limit {ceiling}, adaptive {adaptive})"
                found[name] = slots.snapshot()
    return found


def describe(limits: dict[str, dict[str, Any]]) -> str:
    """One line for the progress display: requests in flight / the limit now, per endpoint."""
    parts = []
    for state in limits.values():
        ceiling = f" (max {state['ceiling']})" if state["ceiling"] else ""
        throttled = f", {state['backpressure']} slowed down (429/503)" if state["backpressure"] else ""
        parts.append(f"{state['in_flight']}/{state['limit']}{ceiling}{throttled}")
    return "requests " + "; ".join(parts) if parts else ""

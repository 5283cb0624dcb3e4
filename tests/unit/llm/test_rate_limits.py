"""The endpoint limiter (adaptive concurrency), the RPM/TPM budgets and the retry layer's backpressure budget."""

from __future__ import annotations

import asyncio
import time

import pytest
from tenacity import RetryError

from autodata.llm import rate_limits
from autodata.llm.models import RetryBudget
from autodata.llm.openai_compat import EndpointError, TransientEndpointError
from autodata.llm.rate_limits import (
    BACKOFF,
    INITIAL_LIMIT,
    EndpointLimiter,
    RateBudget,
    RequestLimits,
    endpoint_permit,
    is_backpressure,
)
from autodata.llm.settings import load_settings


def saturated(limiter: EndpointLimiter) -> EndpointLimiter:
    limiter.in_flight = limiter.current
    return limiter


def test_without_a_user_limit_the_limit_starts_at_the_initial_one_and_doubles_per_round_trip():
    limiter = saturated(EndpointLimiter("e", ceiling=None, adaptive=True))
    assert limiter.current == INITIAL_LIMIT
    for _ in range(INITIAL_LIMIT):  # one round trip: every request in flight answers, and demand fills the slots
        saturated(limiter).answered(limiter.epoch, 0.1)
    assert limiter.current == 2 * INITIAL_LIMIT


def test_an_idle_limit_does_not_grow():
    limiter = EndpointLimiter("e", ceiling=None, adaptive=True)
    limiter.in_flight = 3
    for _ in range(50):
        limiter.answered(limiter.epoch, 0.1)
    assert limiter.current == INITIAL_LIMIT


def test_the_limit_never_goes_above_the_user_s():
    limiter = saturated(EndpointLimiter("e", ceiling=8, adaptive=True))
    assert limiter.current == 8
    for _ in range(100):
        saturated(limiter).answered(limiter.epoch, 0.1)
    assert limiter.current == 8


def test_429s_of_one_round_trip_cut_the_limit_once_then_it_grows_by_one_per_round_trip():
    limiter = saturated(EndpointLimiter("e", ceiling=None, adaptive=True))
    sent_in = limiter.epoch
    for _ in range(10):  # ten requests of the same round trip told to slow down
        limiter.pushed_back(sent_in)
    assert limiter.current == INITIAL_LIMIT // 2 and limiter.backpressure == 10 and not limiter.slow_start
    limiter.pushed_back(limiter.epoch)  # a request sent after the cut: cut again, less
    assert limiter.current == int(INITIAL_LIMIT // 2 * BACKOFF)
    before = limiter.limit
    for _ in range(limiter.current):
        saturated(limiter).answered(limiter.epoch, 0.1)
    assert before + 0.8 < limiter.limit < before + 1.0  # about one more per round trip
    # stats.json's record: the limit over time, one point per second at most (the last of that second).
    assert limiter.history[0] == [0.0, INITIAL_LIMIT] and limiter.history[-1][1] == limiter.current


def test_a_static_limit_ignores_429s():
    limiter = EndpointLimiter("e", ceiling=4, adaptive=False)
    limiter.pushed_back(limiter.epoch)
    assert limiter.current == 4 and limiter.backpressure == 1


def test_latency_rising_far_above_its_average_cuts_the_limit_once_a_429_has_shown_there_is_one():
    limiter = saturated(EndpointLimiter("e", ceiling=None, adaptive=True))
    limiter.pushed_back(limiter.epoch)  # leaves slow start at 8
    limit = limiter.limit
    for _ in range(40):
        limiter.answered(-1, 0.1)  # answers of an old round trip: they do not grow the limit
    saturated(limiter)
    for _ in range(5):
        limiter.answered(-1, 1.0)  # ten times slower: a queue in front of the server
    assert limiter.limit == pytest.approx(limit * rate_limits.LATENCY_BACKOFF)


async def test_requests_beyond_the_limit_wait_for_a_slot_and_the_limit_is_shared_per_endpoint():
    limits = RequestLimits(max_concurrent=2)
    order: list[str] = []

    async def request(name: str, hold: float) -> None:
        async with endpoint_permit("http://e/v1", "m", limits):
            order.append(f"start {name}")
            await asyncio.sleep(hold)
            order.append(f"end {name}")

    await asyncio.gather(request("a", 0.05), request("b", 0.1), request("c", 0.01))
    assert order.index("start c") > order.index("end a")
    assert rate_limits.snapshot({"http://e/v1"})["http://e/v1"]["requests"] == 3


async def test_a_request_budget_spaces_requests_at_the_rate_without_a_burst():
    budget = RateBudget(per_minute=1200)  # one every 50 ms
    started = time.monotonic()
    for _ in range(5):
        await budget.spend(1)
    assert 0.19 <= time.monotonic() - started < 0.5


async def test_a_token_budget_charges_the_reported_tokens_not_the_estimate():
    limits = RequestLimits(tokens_per_minute=60_000)  # 1000 tokens a second
    async with endpoint_permit("http://t/v1", "m", limits, prompt_tokens=10) as permit:
        pass
    permit.used_tokens(prompt=150, completion=50)  # 200 used, 10 charged: 190 more
    started = time.monotonic()
    async with endpoint_permit("http://t/v1", "m", limits, prompt_tokens=10) as second:
        pass
    assert time.monotonic() - started >= 0.18  # waited for the 200 tokens of the first request
    assert second.charged == 10 + 50  # its estimate: the prompt plus the average completion so far


@pytest.mark.parametrize(
    "error, backpressure",
    [
        (TransientEndpointError("HTTP 429 from x: slow down", 429), True),
        (TransientEndpointError("HTTP 429 from x: You exceeded your current quota (insufficient_quota)", 429), False),
        (TransientEndpointError("HTTP 503 from x: overloaded", 503, retry_after=2.0), True),
        (TransientEndpointError("HTTP 503 from x: <html>nginx</html>", 503), False),
        (TransientEndpointError("HTTP 500 from x", 500, retry_after=1.0), False),
        (EndpointError("HTTP 400 from x", 400), False),
    ],
)
def test_which_answers_are_backpressure(error, backpressure):
    assert is_backpressure(error) is backpressure


def budget(retries: int, patience: float = 300.0) -> RetryBudget:
    return RetryBudget((TransientEndpointError,), (), retries, 0, 0.001, 0.001, patience=patience)


async def answers(retrying, failures: list[BaseException]) -> int:
    attempts = 0
    async for attempt in retrying:
        with attempt:
            attempts += 1
            if failures:
                raise failures.pop(0)
    return attempts


async def test_429s_are_waited_out_without_using_up_the_retries_for_faults():
    busy = [TransientEndpointError("HTTP 429", 429, retry_after=0.0) for _ in range(6)]
    fault = TransientEndpointError("HTTP 500", 500)
    assert await answers(budget(retries=1).retrying(), [*busy, fault]) == 8
    with pytest.raises(TransientEndpointError, match="500"):
        await answers(budget(retries=1).retrying(), [*busy, fault, fault])


async def test_past_the_patience_429s_count_as_faults():
    busy = [TransientEndpointError("HTTP 429", 429, retry_after=0.02) for _ in range(10)]
    with pytest.raises((TransientEndpointError, RetryError)):
        await answers(budget(retries=1, patience=0.01).retrying(), busy)
    assert len(busy) == 10 - 3  # the first, then two past the patience: one retry used, the next stops


def test_rate_limit_settings_come_from_the_toml_roles_and_the_environment(tmp_path):
    config = tmp_path / "autodata.toml"
    config.write_text(
        '[defaults]\nmodel = "gpt-4o-mini"\nbase_url = "http://x/v1"\n'
        "[roles.weak]\nrequests_per_minute = 500\ntokens_per_minute = 200000\n"
    )
    env = {"AUTODATA_STRONG_REQUESTS_PER_MINUTE": "60", "AUTODATA_JUDGE_ADAPTIVE_CONCURRENCY": "false",
           "AUTODATA_RATE_LIMIT_PATIENCE": "30"}  # fmt: skip
    settings = load_settings(config, env=env)
    weak, strong, judge = settings.role("weak"), settings.role("strong"), settings.role("judge")
    assert (weak.requests_per_minute, weak.tokens_per_minute) == (500, 200_000)
    assert strong.requests_per_minute == 60 and strong.tokens_per_minute is None
    assert judge.adaptive_concurrency is False and weak.adaptive_concurrency is True
    assert {cfg.rate_limit_patience for cfg in settings.roles.values()} == {30.0}

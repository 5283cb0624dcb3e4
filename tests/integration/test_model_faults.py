"""Model faults against a real HTTP endpoint (the fake OpenAI server): the production model layer retries
with backoff, re-asks malformed output, and a batch accounts for every document however calls fail."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter

import pytest
from langchain_core.messages import HumanMessage

from autodata.llm.models import (
    EndpointMisconfiguredError,
    ModelProvider,
    check_endpoints,
)
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.llm.settings import load_settings
from autodata.state.llm_outputs import QualityAssessment
from autodata.state.schemas import SourceDocument
from tests.support.fake_openai import (
    DOWN,
    EMPTY_CHOICES,
    FORBIDDEN,
    HANG,
    HTML_PAGE,
    INVALID_JSON,
    MALFORMED_TOOL_ARGS,
    NULL_CONTENT,
    RATE_LIMIT,
    SERVER_ERROR,
    UNAUTHORIZED,
    FakeOpenAIServer,
    FaultPlan,
    settings_env,
    unused_port,
)
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import last_user_text

pytestmark = pytest.mark.integration

# The transport retry's backoff: 0.5 s * 2**n plus jitter (no Retry-After header sent here).
FIRST_BACKOFF, SECOND_BACKOFF = 0.5, 1.0


def assessment_script(role, messages, tool):
    return {"passed": True, "reasons": []} if tool else f"{role}: Final answer: 42"


def provider_at(base_url: str, timeout: float = 5.0, max_retries: int = 2, transport_wait: float = 0.5) -> ModelProvider:
    env = settings_env(base_url, AUTODATA_TIMEOUT=str(timeout), AUTODATA_MAX_RETRIES=str(max_retries))
    waits = {"retry_initial_wait": 0.01, "transport_initial_wait": transport_wait}
    return ModelProvider(load_settings(env=env).model_copy(update=waits))


def arrival_gaps(server: FakeOpenAIServer) -> list[float]:
    times = [r.arrived for r in server.requests]
    return [later - earlier for earlier, later in zip(times, times[1:])]


ASK = [HumanMessage("Is this item fit for the dataset?")]


@pytest.mark.parametrize("fault", [RATE_LIMIT, SERVER_ERROR])
async def test_rate_limits_and_server_errors_are_retried_with_growing_backoff(fault):
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[fault, fault])) as server:
        result = await provider_at(server.base_url, max_retries=2).structured("judge", QualityAssessment, ASK)
        assert result.ok and result.value.passed
        assert [r.fault for r in server.requests] == [fault, fault, None]
        first, second = arrival_gaps(server)
        assert first >= FIRST_BACKOFF and second >= SECOND_BACKOFF
        # Every request is a call in the usage figures (what the endpoint bills); the answer came: no failure.
        assert result.usage.calls == 3 and result.usage.failures == 0


async def test_the_wait_a_server_asks_for_in_retry_after_is_honoured():
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[RATE_LIMIT]), retry_after=0.05) as server:
        result = await provider_at(server.base_url, max_retries=1).text("weak", ASK)
        assert result.ok
        # The server asked for 50 ms: much less than the 0.5 s backoff the client would otherwise take.
        assert 0.05 <= arrival_gaps(server)[0] < FIRST_BACKOFF


async def test_a_request_hanging_past_the_timeout_is_retried():
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[HANG]), hang_seconds=10) as server:
        started = time.monotonic()
        result = await provider_at(server.base_url, timeout=0.3, max_retries=1).text("weak", ASK)
        assert result.ok and result.value == "weak: Final answer: 42"
        assert [r.fault for r in server.requests] == [HANG, None]
        assert arrival_gaps(server)[0] >= 0.3 + FIRST_BACKOFF
        assert time.monotonic() - started < 5, "the hung request must not be waited out"


async def test_a_refused_connection_is_retried_until_the_server_is_up():
    port = unused_port()
    servers: list[FakeOpenAIServer] = []

    def start_late() -> None:
        time.sleep(0.15)  # the client's first attempt is refused; its first retry comes >= 0.375 s later
        servers.append(FakeOpenAIServer(assessment_script, port=port).start())

    threading.Thread(target=start_late).start()
    try:
        result = await provider_at(f"http://127.0.0.1:{port}/v1", max_retries=3).text("strong", ASK)
    finally:
        time.sleep(0.2)
        for server in servers:
            server.stop()
    assert result.ok and result.value == "strong: Final answer: 42"
    assert len(servers[0].requests) == 1


async def test_after_the_last_retry_the_call_fails_with_the_reason_instead_of_raising():
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[SERVER_ERROR] * 3), retry_after=0.01) as server:
        result = await provider_at(server.base_url, max_retries=2).structured("judge", QualityAssessment, ASK)
        assert not result.ok and "HTTP 500 from" in result.error and "injected fault" in result.error
        assert result.usage.failures == 1 and len(server.requests) == 3

    result = await provider_at(f"http://127.0.0.1:{unused_port()}/v1", max_retries=1).text("weak", ASK)
    assert not result.ok and "TransientEndpointError: cannot reach http://127.0.0.1:" in result.error


async def test_malformed_tool_arguments_are_reasked():
    # Two malformed answers: arguments of the wrong shape, then arguments that are not JSON at all.
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[MALFORMED_TOOL_ARGS] * 2)) as server:
        result = await provider_at(server.base_url).structured("quality_verifier", QualityAssessment, ASK)
        assert result.ok and result.value.passed
        assert result.usage.calls == 3 and len(server.requests) == 3


async def test_malformed_output_beyond_the_reasks_is_a_failed_call():
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[MALFORMED_TOOL_ARGS] * 3)) as server:
        result = await provider_at(server.base_url).structured("quality_verifier", QualityAssessment, ASK)
        assert not result.ok and "MalformedOutputError" in result.error
        assert result.usage.calls == 3 and result.usage.failures == 1


async def test_an_invalid_json_body_is_asked_again():
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[INVALID_JSON, None, INVALID_JSON])) as server:
        provider = provider_at(server.base_url)
        text = await provider.text("weak", ASK)
        structured = await provider.structured("judge", QualityAssessment, ASK)
        assert text.ok and structured.ok
        assert text.usage.calls == 2 and structured.usage.calls == 2


@pytest.mark.parametrize("fault, status", [(UNAUTHORIZED, 401), (FORBIDDEN, 403)])
async def test_a_refused_key_is_not_retried_and_fails_the_call_on_the_endpoint_side(fault, status):
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[fault])) as server:
        result = await provider_at(server.base_url, max_retries=3).structured("judge", QualityAssessment, ASK)
        assert len(server.requests) == 1
    assert result.failure is not None and result.failure.status == status
    expected = f"judge call to {server.base_url} failed after 1 attempt(s) (last answer HTTP {status})"
    assert str(result.failure).startswith(expected)


@pytest.mark.parametrize("fault", [HTML_PAGE, INVALID_JSON, EMPTY_CHOICES, NULL_CONTENT, DOWN])
async def test_broken_answers_are_retried_as_faults_of_the_endpoint(fault):
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[fault])) as server:
        provider = provider_at(server.base_url, max_retries=1, transport_wait=0.01)
        result = await provider.text("weak", ASK)
        assert result.ok and result.value == "weak: Final answer: 42" and result.usage.calls == 2
        assert [r.fault for r in server.requests] == [fault, None]


@pytest.mark.parametrize("fault", [NULL_CONTENT, DOWN])
async def test_an_endpoint_that_keeps_failing_fails_the_call_with_the_last_error(fault):
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[fault] * 3)) as server:
        result = await provider_at(server.base_url, max_retries=2, transport_wait=0.01).text("strong", ASK)
    assert result.failure is not None and result.usage.calls == 3
    expected = "EmptyReplyError: empty reply" if fault == NULL_CONTENT else "TransientEndpointError: HTTP 503 from"
    assert expected in result.failure.error


async def test_html_answers_trip_the_breaker_after_the_limit_counting_every_attempt():
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[HTML_PAGE] * 20)) as server:
        provider = provider_at(server.base_url, max_retries=3, transport_wait=0.01)
        first = await provider.text("weak", ASK)  # four attempts, four bad answers: the call fails
        assert first.failure is not None and "GarbledResponseError" in first.error
        with pytest.raises(EndpointMisconfiguredError) as raised:
            await provider.text("judge", ASK)  # the fifth in a row on this endpoint stops the run
        with pytest.raises(EndpointMisconfiguredError):
            await provider.text("strong", ASK)  # and every later call, at once
        assert len(server.requests) == 5
    message = str(raised.value)
    assert f"5 answers in a row from {server.base_url}" in message and "judge role" in message
    assert "HTTP 200" in message


@pytest.mark.parametrize("fault", [HTML_PAGE, EMPTY_CHOICES, UNAUTHORIZED])
async def test_langchain_openai_s_client_trips_the_breaker_on_the_same_answers(fault):
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=[fault] * 10)) as server:
        env = settings_env(server.base_url, AUTODATA_CLIENT="langchain-openai", AUTODATA_MAX_RETRIES="0",
                           AUTODATA_ENDPOINT_FAULT_LIMIT="2")  # fmt: skip
        provider = ModelProvider(load_settings(env=env))
        first = await provider.text("weak", ASK)
        assert first.failure is not None
        with pytest.raises(EndpointMisconfiguredError, match="2 answers in a row"):
            await provider.text("judge", ASK)
        assert len(server.requests) == 2


async def test_proper_answers_reset_the_breaker():
    schedule = [UNAUTHORIZED] * 4 + [None] + [UNAUTHORIZED] * 4
    with FakeOpenAIServer(assessment_script, faults=FaultPlan(schedule=schedule)) as server:
        provider = provider_at(server.base_url)
        results = [await provider.text("weak", ASK) for _ in schedule]
    assert [r.ok for r in results] == [False] * 4 + [True] + [False] * 4


def test_the_start_up_check_sends_each_role_s_key_and_refuses_a_wrong_one():
    with FakeOpenAIServer(assessment_script, api_key="sk-right-key") as server:
        check_endpoints(load_settings(env=settings_env(server.base_url, AUTODATA_API_KEY="sk-right-key")))
        wrong = settings_env(server.base_url, AUTODATA_API_KEY="sk-right-key", AUTODATA_JUDGE_API_KEY="sk-wrong-key")
        with pytest.raises(EndpointMisconfiguredError) as raised:
            check_endpoints(load_settings(env=wrong))
    message = str(raised.value)
    assert f"{server.base_url} refused the API key with HTTP 401 (roles: judge)" in message
    assert "sk-wrong-key" not in message


def test_seeded_faults_do_not_depend_on_arrival_order():
    plan = FaultPlan(rate=0.2, seed=7)
    bodies = [f"request {i}" for i in range(2000)]
    forward = {b: plan.choose(10_000, b, 0, wants_tool=True) for b in bodies}
    backward = {b: plan.choose(10_000, b, 0, wants_tool=True) for b in reversed(bodies)}
    assert forward == backward
    kinds = Counter(k for k in forward.values() if k)
    assert 0.17 < sum(kinds.values()) / len(bodies) < 0.23
    assert set(kinds) == {RATE_LIMIT, SERVER_ERROR, HANG, INVALID_JSON, MALFORMED_TOOL_ARGS}
    other_seed = {b: FaultPlan(rate=0.2, seed=8).choose(10_000, b, 0, wants_tool=True) for b in bodies}
    assert other_seed != forward
    assert all(plan.choose(10_000, b, 0, wants_tool=False) != MALFORMED_TOOL_ARGS for b in bodies)


# -- whole batches ----------------------------------------------------------------------------------------


QUESTIONS = [
    "Why does dropout reduce co-adaptation between hidden units?",
    "How would weight decay change the effective learning rate under batch normalisation?",
    "When does early stopping act like an L2 penalty on the weights?",
    "Which failure appears if label smoothing is combined with knowledge distillation?",
    "What limits data augmentation as a substitute for collecting more examples?",
    "Under what conditions does mixup hurt calibration on clean inputs?",
    "How do residual connections interact with stochastic depth during training?",
    "Why might gradient clipping mask an exploding loss caused by a bad initialisation?",
    "What trade-off does a larger batch size impose on generalisation in practice?",
    "How can ensembling several small networks beat one wide network of equal cost?",
]


def documents(n: int) -> list[SourceDocument]:
    docs = []
    for i in range(n):
        text = f"Document {i}. Dropout zeroes activations at random; weight decay shrinks weights ({i})."
        docs.append(
            SourceDocument(
                doc_id=f"doc-{i}", path=f"corpus/doc-{i}.md", title=f"Doc {i}", text=text,
                content_hash=hashlib.sha256(text.encode()).hexdigest(), span=(0, len(text)), total_chars=len(text),
            )  # fmt: skip
        )
    return docs


async def run_batch(provider: ModelProvider, run_dir: RunDirectory, docs: list[SourceDocument]):
    options = GenerateOptions(task="cs-research", samples=2, max_rounds=2, concurrency=len(docs), run_id="faults")
    return await Generator(options, provider, run_dir).run(docs)


def assert_every_document_accounted_for(stats, run_dir: RunDirectory, docs: list[SourceDocument]) -> list[dict]:
    finished = stats.accepted + stats.exhausted + stats.near_duplicates
    assert finished + stats.failed == len(docs)
    trajectories = list(run_dir.trajectories())
    errors = run_dir.errors()
    assert len(run_dir.items()) == stats.accepted
    assert len(trajectories) == finished and len(errors) == stats.failed
    assert sorted([t["doc_id"] for t in trajectories] + [e["doc_id"] for e in errors]) == sorted(d.doc_id for d in docs)
    assert all(e["reason"] for e in errors)
    for trajectory in trajectories:
        if trajectory["status"] == "exhausted":
            # An exhausted document says, round by round, why no item was accepted.
            assert all(r["outcome"] != "accepted" and r["feedback"]["details"] for r in trajectory["rounds"])
    return trajectories


class PerDocumentScript(GraphScript):
    """Each document gets its own question (so none is dropped as a near duplicate of another)."""

    def __call__(self, role, messages, tool):
        if role == "challenger":
            self.calls.setdefault(role, []).append("")
            index = int(re.search(r"Document (\d+)\.", last_user_text(messages)).group(1))
            return rubric_item(QUESTIONS[index])
        return super().__call__(role, messages, tool)


async def test_with_twenty_percent_faults_every_document_is_accounted_for_and_a_rerun_finishes_them(tmp_path):
    docs = documents(len(QUESTIONS))
    faults = FaultPlan(rate=0.2, seed=3)
    with FakeOpenAIServer(PerDocumentScript(items=[]), faults=faults, latency=0.01, hang_seconds=10, retry_after=0.02) as server:
        # One transport retry everywhere but the weak solver, so some calls fail for good.
        env = settings_env(server.base_url, AUTODATA_TIMEOUT="0.5", AUTODATA_MAX_RETRIES="1", AUTODATA_WEAK_MAX_RETRIES="0")
        settings = load_settings(env=env).model_copy(update={"retry_initial_wait": 0.01, "transport_initial_wait": 0.05})
        run_dir = RunDirectory(tmp_path / "run")
        stats = await run_batch(ModelProvider(settings), run_dir, docs)
        seen = server.stats()
        first = assert_every_document_accounted_for(stats, run_dir, docs)
        assert 0.1 < sum(seen["faults"].values()) / seen["requests"] < 0.3
        assert set(seen["faults"]) == {RATE_LIMIT, SERVER_ERROR, HANG, INVALID_JSON, MALFORMED_TOOL_ARGS}
        # A call that failed even after its retries fails its document (never a round of it), with the reason.
        assert stats.failed > 0
        assert all(re.match(r"ModelCallFailed: \w+ call to http://127\.0\.0\.1:\d+/v1 failed", e["reason"])
                   for e in run_dir.errors())  # fmt: skip
        assert not [a for t in first for r in t["rounds"] for a in r["attempts"] if a["error"]]

        server.fake.faults = FaultPlan()  # the endpoint behaves again
        stats = await run_batch(ModelProvider(settings), run_dir, docs)
    assert stats.failed == 0 and stats.resumed == len(first)
    assert_every_document_accounted_for(stats, run_dir, docs)
    assert stats.accepted + stats.exhausted == len(docs) and stats.accepted >= len(docs) // 2


async def test_an_unreachable_endpoint_fails_documents_not_the_batch(tmp_path):
    docs = documents(3)
    url = f"http://127.0.0.1:{unused_port()}/v1"
    run_dir = RunDirectory(tmp_path / "run")
    stats = await run_batch(provider_at(url, max_retries=1), run_dir, docs)
    assert_every_document_accounted_for(stats, run_dir, docs)
    assert stats.failed == len(docs) and stats.exhausted == 0 and not list(run_dir.trajectories())
    for error in run_dir.errors():
        assert error["reason"].startswith(f"ModelCallFailed: challenger call to {url} failed after 2 attempt(s)")
        assert "TransientEndpointError: cannot reach" in error["reason"]
    assert stats.usage["challenger"].calls == 2 * len(docs) and stats.usage["challenger"].failures == len(docs)

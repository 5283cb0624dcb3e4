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

from autodata.models import ModelProvider, using_provider
from autodata.rundir import RunDirectory
from autodata.runner import GenerateOptions, Generator
from autodata.settings import load_settings
from state.llm_outputs import QualityAssessment
from state.schemas import SourceDocument
from tests.support.fake_openai import (
    HANG,
    INVALID_JSON,
    MALFORMED_TOOL_ARGS,
    RATE_LIMIT,
    SERVER_ERROR,
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


def provider_at(base_url: str, timeout: float = 5.0, max_retries: int = 2) -> ModelProvider:
    env = settings_env(base_url, AUTODATA_TIMEOUT=str(timeout), AUTODATA_MAX_RETRIES=str(max_retries))
    return ModelProvider(load_settings(env=env).model_copy(update={"retry_initial_wait": 0.01}))


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
    with using_provider(provider):
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


async def test_with_twenty_percent_faults_every_document_is_accounted_for(tmp_path):
    docs = documents(len(QUESTIONS))
    faults = FaultPlan(rate=0.2, seed=3)
    with FakeOpenAIServer(PerDocumentScript(items=[]), faults=faults, latency=0.01, hang_seconds=10, retry_after=0.02) as server:
        # One transport retry everywhere but the weak solver, so some calls fail for good and are recorded.
        env = settings_env(server.base_url, AUTODATA_TIMEOUT="0.5", AUTODATA_MAX_RETRIES="1", AUTODATA_WEAK_MAX_RETRIES="0")
        provider = ModelProvider(load_settings(env=env).model_copy(update={"retry_initial_wait": 0.01}))
        run_dir = RunDirectory(tmp_path / "run")
        stats = await run_batch(provider, run_dir, docs)
        seen = server.stats()
    trajectories = assert_every_document_accounted_for(stats, run_dir, docs)
    assert 0.1 < sum(seen["faults"].values()) / seen["requests"] < 0.3
    assert set(seen["faults"]) == {RATE_LIMIT, SERVER_ERROR, HANG, INVALID_JSON, MALFORMED_TOOL_ARGS}
    # Retries, re-asks and a second round carry most documents through.
    assert stats.accepted >= len(docs) // 2
    # A solver call that failed even after its retries is on record, with the reason, in its attempt.
    for role in ("weak", "strong"):
        failed_attempts = [
            a["error"] for t in trajectories for r in t["rounds"] for a in r["attempts"] if a["role"] == role and a["error"]
        ]
        assert len(failed_attempts) == stats.usage[role].failures
        assert all(re.match(r"\w+Error: ", reason) for reason in failed_attempts)


async def test_an_unreachable_endpoint_fails_calls_not_the_batch(tmp_path):
    docs = documents(3)
    provider = provider_at(f"http://127.0.0.1:{unused_port()}/v1", max_retries=1)
    run_dir = RunDirectory(tmp_path / "run")
    stats = await run_batch(provider, run_dir, docs)
    trajectories = assert_every_document_accounted_for(stats, run_dir, docs)
    assert stats.accepted == 0 and stats.exhausted == len(docs)
    for trajectory in trajectories:
        assert [r["outcome"] for r in trajectory["rounds"]] == ["model_error", "model_error"]
        assert all("challenger: TransientEndpointError: cannot reach" in r["error"] for r in trajectory["rounds"])

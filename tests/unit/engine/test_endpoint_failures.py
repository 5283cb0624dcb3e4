"""Endpoint failures with scripted models: a document whose model calls fail is `failed` and retried from its
checkpoint, never `exhausted`; answers that show a misconfigured endpoint stop the run (the breaker)."""

from __future__ import annotations

import gc
import json
import logging
import time

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from autodata.engine.corpus import iter_documents
from autodata.llm.models import (
    EndpointBreaker,
    EndpointMisconfiguredError,
    ModelCallFailed,
    _reject_empty_reply,
)
from autodata.llm.openai_compat import (
    EmptyReplyError,
    EndpointError,
    GarbledResponseError,
    TransientEndpointError,
)
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.llm.settings import ConfigError
from tests.support.graph_script import per_document_script
from tests.support.scripted import scripted_provider


def make_corpus(tmp_path, n: int = 3):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        (src / f"doc{i}.md").write_text(f"# Paper {i}\n\nTopic number {i} is about a distinct subject {i * 7}.")
    return src


def fast_provider(script, max_retries: int = 1):
    provider = scripted_provider(script, transport_initial_wait=0.0)
    roles = {role: cfg.model_copy(update={"max_retries": max_retries}) for role, cfg in provider.settings.roles.items()}
    provider.settings = provider.settings.model_copy(update={"roles": roles})
    return provider


async def generate(tmp_path, src, provider, concurrency: int = 1):
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", samples=2, max_rounds=2, concurrency=concurrency),
                          provider, run_dir)  # fmt: skip
    stats = await generator.run(iter_documents(src, max_chars=2000))
    return stats, run_dir


class WeakSolverDownFor:
    """The weak solver's endpoint refuses connections for one document until `up` is set."""

    def __init__(self, paper: str) -> None:
        self.paper, self.up = paper, False
        self.script = per_document_script()

    def __call__(self, role, messages, tool):
        if role == "weak" and not self.up and self.paper in str(messages[-1].content):
            raise TransientEndpointError("cannot reach http://weak.example/v1/chat/completions: connection refused")
        return self.script(role, messages, tool)


async def test_a_document_whose_calls_fail_is_failed_then_resumed_from_its_checkpoint(tmp_path):
    src = make_corpus(tmp_path)
    outage = WeakSolverDownFor("Paper 1")
    stats, run_dir = await generate(tmp_path, src, fast_provider(outage))

    assert (stats.accepted, stats.exhausted, stats.failed) == (2, 0, 1)
    assert sorted(t["doc_id"] for t in run_dir.trajectories()) == ["doc0", "doc2"]  # no row: not finished
    (error,) = run_dir.errors()
    assert error["doc_id"] == "doc1" and error["kind"] == "failed"
    assert error["reason"].startswith("ModelCallFailed: weak call to embedded failed after 2 attempt(s)")
    assert "TransientEndpointError: cannot reach" in error["reason"]
    saved = json.loads(run_dir.file("stats.json").read_text())
    assert saved["failed"] == 1 and saved["exhausted"] == 0
    assert saved["usage"]["weak"]["failures"] == 1  # the failed call's requests still count

    outage.up = True
    provider = fast_provider(outage)
    stats, run_dir = await generate(tmp_path, src, provider)
    assert (stats.accepted, stats.failed, stats.resumed) == (3, 0, 2)
    trajectories = list(run_dir.trajectories())
    assert sorted(t["doc_id"] for t in trajectories) == ["doc0", "doc1", "doc2"]
    ids = [item["id"] for item in run_dir.items()]
    assert len(ids) == 3 == len(set(ids))
    assert run_dir.errors() == []  # the failure is gone once the document finished
    # doc1 continued from its checkpoint: the challenger did not write a new question for it.
    assert provider.chat_model("challenger").calls == []
    assert all(r["outcome"] != "model_error" for t in trajectories for r in t["rounds"])


def test_the_breaker_counts_consecutive_configuration_faults_and_trips_at_the_limit():
    breaker = EndpointBreaker("http://models.example/v1")
    breaker.fault("judge", "EndpointError: HTTP 401 from x", limit=3)
    breaker.answered()  # a proper answer in between: the count starts again
    breaker.fault("judge", "EndpointError: HTTP 401 from x", limit=3)
    breaker.fault("weak", "EndpointError: HTTP 401 from x", limit=3)
    with pytest.raises(EndpointMisconfiguredError) as raised:
        breaker.fault("weak", "EndpointError: HTTP 401 from x: Incorrect API key", limit=3)
    message = str(raised.value)
    assert "3 answers in a row from http://models.example/v1" in message
    assert "weak role" in message and "HTTP 401" in message
    assert isinstance(raised.value, ConfigError)  # the CLI's exit-2 path
    with pytest.raises(EndpointMisconfiguredError):
        breaker.check()  # stays open: every later call stops at once


async def test_a_refused_key_trips_the_breaker_after_the_limit_not_after_every_document(tmp_path, caplog):
    calls = {"n": 0}

    def refusing(role, messages, tool):
        calls["n"] += 1
        raise EndpointError("HTTP 401 from http://x/v1/chat/completions: Incorrect API key provided", 401)

    src = make_corpus(tmp_path, n=8)
    caplog.set_level(logging.ERROR)
    with pytest.raises(EndpointMisconfiguredError, match="HTTP 401"):
        await generate(tmp_path, src, fast_provider(refusing), concurrency=2)
    gc.collect()
    # A 401 is not retried; the fifth in a row stops the run (the other document in flight may have sent one more).
    assert 5 <= calls["n"] <= 6
    assert "never retrieved" not in caplog.text
    run_dir = RunDirectory(tmp_path / "run")
    saved = json.loads(run_dir.file("stats.json").read_text())  # what finished is still written
    assert saved["accepted"] == 0 and saved["failed"] == len(run_dir.errors()) < 8


async def test_garbled_bodies_trip_the_breaker_counting_every_attempt(tmp_path):
    calls = {"n": 0}

    def html(role, messages, tool):
        calls["n"] += 1
        raise GarbledResponseError("http://x/v1/chat/completions answered HTTP 200 with b'<html>'", status=200)

    with pytest.raises(EndpointMisconfiguredError, match="HTTP 200"):
        await generate(tmp_path, make_corpus(tmp_path), fast_provider(html, max_retries=3))
    assert calls["n"] == 5  # the second call's first attempt trips it: not 4 attempts per call per document


def test_an_empty_reply_is_the_endpoint_s_fault_unless_the_token_budget_ran_out():
    with pytest.raises(EmptyReplyError):
        _reject_empty_reply(AIMessage(content="", response_metadata={"finish_reason": "stop"}))
    with pytest.raises(EmptyReplyError):
        _reject_empty_reply(AIMessage(content=[], response_metadata={}))
    _reject_empty_reply(AIMessage(content="", response_metadata={"finish_reason": "length"}))  # the model's answer
    _reject_empty_reply(AIMessage(content="", tool_calls=[{"name": "f", "args": {}, "id": "1"}]))
    _reject_empty_reply(AIMessage(content="42"))


async def test_empty_replies_are_retried_then_fail_the_call():
    replies = iter(["", "answer"])
    provider = fast_provider(lambda role, messages, tool: next(replies))
    result = await provider.text("weak", [HumanMessage("Q?")])
    assert result.ok and result.value == "answer" and result.usage.calls == 2

    provider = fast_provider(lambda role, messages, tool: "", max_retries=2)
    result = await provider.text("weak", [HumanMessage("Q?")])
    assert isinstance(result.failure, ModelCallFailed) and "EmptyReplyError" in result.error
    assert result.usage.calls == 3 and result.usage.failures == 1


async def test_malformed_output_is_the_model_s_answer_not_an_endpoint_failure():
    provider = fast_provider(lambda role, messages, tool: {"not_a_field": 1})
    from autodata.state.llm_outputs import QualityAssessment

    result = await provider.structured("quality_verifier", QualityAssessment, [HumanMessage("Q?")])
    assert not result.ok and "MalformedOutputError" in result.error and result.failure is None


async def test_a_call_stops_at_its_total_budget():

    def slow(role, messages, tool):
        time.sleep(0.3)
        raise TransientEndpointError("cannot reach http://x/v1/chat/completions: connection reset")

    provider = fast_provider(slow, max_retries=50)
    budget = {"timeout": 0.1, "call_timeout": 0.5}
    roles = {r: cfg.model_copy(update=budget) for r, cfg in provider.settings.roles.items()}
    provider.settings = provider.settings.model_copy(update={"roles": roles})
    result = await provider.text("weak", [HumanMessage("Q?")])
    assert result.failure is not None and "call budget of 0.5 s" in result.error
    assert "connection reset" in result.error and result.usage.calls < 50


async def test_the_baseline_runner_fails_and_resumes_documents_the_same_way(tmp_path):
    from autodata.engine.baseline_runner import BaselineOptions
    from autodata.tasks.baselines import BaselineRunner
    from tests.unit.engine.test_baseline_runner import science_script, write_problems

    down = {"on": True}

    def script(role, messages, tool):
        if role == "strong" and down["on"] and "17 + 25" in str(messages[-1].content):
            raise TransientEndpointError("HTTP 502 from http://strong.example/v1/chat/completions: Bad Gateway", 502)
        return science_script(role, messages, tool)

    sources = write_problems(tmp_path / "problems.jsonl")
    options = BaselineOptions(task="science", method="cot-self-instruct", consistency_samples=2, run_id="cot")
    run_dir = RunDirectory(tmp_path / "cot")

    async def run_baseline():
        provider = fast_provider(script)
        return await BaselineRunner(options, provider, run_dir).run(iter_documents(sources, 6000))

    stats = await run_baseline()
    assert (stats.accepted, stats.failed, stats.dropped_inconsistent) == (1, 1, 1)  # the 17 + 25 problem failed
    (error,) = run_dir.errors()
    assert "strong call to embedded failed after 2 attempt(s) (last answer HTTP 502)" in error["reason"]

    down["on"] = False
    stats = await run_baseline()
    assert (stats.accepted, stats.meets_policy, stats.failed, stats.resumed) == (2, 1, 0, 2)
    assert [t["status"] for t in run_dir.trajectories()] == ["kept", "dropped", "kept"]
    assert len(run_dir.items()) == 2 and run_dir.errors() == []


def test_remote_roles_get_per_role_timeouts_and_a_total_call_budget():
    from autodata.llm.settings import load_settings

    settings = load_settings(env={"AUTODATA_MODEL": "m", "AUTODATA_BASE_URL": "http://x/v1"})
    timeouts = {role: (cfg.timeout, cfg.call_budget) for role, cfg in settings.roles.items()}
    assert timeouts["quality_verifier"] == timeouts["judge"] == (120.0, 300.0)
    assert timeouts["challenger"] == timeouts["weak"] == timeouts["strong"] == (300.0, 720.0)
    assert all(cfg.endpoint_fault_limit == 5 for cfg in settings.roles.values())

    env = {"AUTODATA_MODEL": "m", "AUTODATA_BASE_URL": "http://x/v1", "AUTODATA_JUDGE_TIMEOUT": "900",
           "AUTODATA_CALL_TIMEOUT": "60", "AUTODATA_ENDPOINT_FAULT_LIMIT": "2"}  # fmt: skip
    settings = load_settings(env=env)
    assert settings.role("judge").call_budget == 900.0  # never less than one request's timeout
    assert settings.role("quality_verifier").call_budget == 120.0 and settings.role("weak").endpoint_fault_limit == 2
    embedded = load_settings(env={}).role("challenger")
    assert (embedded.timeout, embedded.call_budget) == (180.0, 600.0)

"""The served graphs on a production-shaped LangGraph server: real Postgres, real Redis, two API replicas of
`langgraph-api` with the `pg` runtime (langgraph-runtime-pg, in .venv-scale), driven by `autodata generate
--server` run as users run it (a subprocess).

The stack is started once for the module (scripts/scale_stack.py: Postgres and Redis from the distribution's
packages on loopback ports in temporary folders, then replica-1, which creates the schema, then replica-2).
Each replica's models are its own fake OpenAI endpoint in this process, so an endpoint's request log tells
which replica ran which document and counts the model calls of each document (every request names its
`Paper <tag>NN`). The run heartbeat is 1 s (LG_BG_JOB_HEARTBEAT; the default is 120 s), so a dead replica's
runs are swept back to the queue within seconds; each replica runs 2 runs at once, so 4 documents at once
keep both busy. The client always talks to replica-1: the queue in Postgres, not a load balancer, spreads
the runs.

Later tests change the stack (replica-2 is killed, replica-1 restarted), so the tests run in file order.
Client-side faults: a run ending in error, and the client's own replica killed mid-run and restarted, use
the real stack; a 5xx from the API uses a loopback HTTP stand-in (a real server cannot be made to answer 5xx
on demand), and a refused connection a loopback port nothing listens on.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from autodata.engine.rundir import RunDirectory
from tests.support.fake_openai import FakeOpenAIServer, unused_port
from tests.support.graph_script import per_document_script
from tests.support.scale_out import (
    calls_per_paper,
    client_env,
    generate_command,
    missing_prerequisites,
    paper_of,
    replica_env,
    run_generate,
    start_stack,
    wait_until,
    write_papers,
)

pytestmark = pytest.mark.integration

LATENCY = 0.05  # seconds per model call
SMALL = ("--samples", "2", "--rounds", "2")
CONCURRENCY = ("--concurrency", "4")


class FaultyScript:
    """The per-document script, except that the challenger fails (HTTP 500) for the papers in `fail_on`."""

    def __init__(self) -> None:
        self.script = per_document_script()
        self.fail_on: set[str] = set()

    def __call__(self, role, messages, tool):
        if role == "challenger" and any(f"Paper {paper}" in str(m.content) for m in messages for paper in self.fail_on):
            raise RuntimeError("the challenger endpoint is broken (injected)")
        return self.script(role, messages, tool)


@pytest.fixture(scope="module")
def script():
    return FaultyScript()


@pytest.fixture(scope="module")
def endpoints(script):
    with FakeOpenAIServer(script, latency=LATENCY) as one, FakeOpenAIServer(script, latency=LATENCY) as two:
        yield {"replica-1": one, "replica-2": two}


@pytest.fixture(scope="module")
def stack(endpoints, tmp_path_factory):
    reason = missing_prerequisites()
    if reason:
        # CI installs everything (.ci/run, `make test`): there a missing piece is a failure, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)
    stack = start_stack(tmp_path_factory.mktemp("scale-stack"), heartbeat_s=1.0, jobs_per_worker=2)
    try:
        for name, fake in endpoints.items():  # one after the other: the first creates the schema
            stack.start_replica(name, env=replica_env(fake.base_url))
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def server(stack) -> str:
    return stack.process("replica-1").url


def requests_of(endpoints, tag: str) -> dict[str, Counter[str]]:
    """Model calls per paper with this tag, per replica."""
    return {name: calls_per_paper(fake.requests, tag) for name, fake in endpoints.items()}


def total_calls(endpoints) -> int:
    return sum(len(fake.requests) for fake in endpoints.values())


def assert_each_item_once(out: Path, papers: int) -> list[dict]:
    run = RunDirectory(out)
    items, trajectories = run.items(), list(run.trajectories())
    assert len({row["id"] for row in items}) == len(items) == papers, [row["id"] for row in items]
    assert sorted(t["doc_id"] for t in trajectories) == sorted({t["doc_id"] for t in trajectories})
    assert len(trajectories) == papers
    return items


@pytest.fixture(scope="module")
def first_run(server, endpoints, tmp_path_factory):
    """Six papers through the two replicas, 4 at a time."""
    root = tmp_path_factory.mktemp("spread")
    sources, out = write_papers(root / "src", 6, "S"), root / "run"
    command = generate_command(server, sources, out, *SMALL, *CONCURRENCY)
    result = run_generate(command)
    return command, out, result


def test_runs_spread_over_both_replicas_and_each_item_is_written_once(first_run, endpoints):
    _, out, result = first_run
    assert result.returncode == 0, result.stderr
    assert_each_item_once(out, 6)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accepted"] == 6 and stats["failed"] == 0
    assert (out / "dataset").is_dir() and not RunDirectory(out).errors()
    per_replica = requests_of(endpoints, "S")
    assert per_replica["replica-1"] and per_replica["replica-2"], f"runs did not spread: {per_replica}"
    # Each document ran on exactly one replica, and every document made the same number of model calls.
    assert not set(per_replica["replica-1"]) & set(per_replica["replica-2"])
    calls = per_replica["replica-1"] + per_replica["replica-2"]
    assert len(calls) == 6 and len(set(calls.values())) == 1, calls


def test_the_same_command_again_costs_no_model_call(first_run, endpoints):
    command, out, _ = first_run
    before, items_before = total_calls(endpoints), RunDirectory(out).items()
    result = run_generate(command)
    assert result.returncode == 0, result.stderr
    assert total_calls(endpoints) == before
    assert RunDirectory(out).items() == items_before


def test_legal_and_science_graphs_run_through_the_stack_with_their_context(server, endpoints, tmp_path):
    legal = write_papers(tmp_path / "legal", 2, "L")
    science = tmp_path / "science" / "problems.jsonl"
    science.parent.mkdir()
    science.write_text("".join(json.dumps({"question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n" for i in (1, 2)))
    config = tmp_path / "autodata.toml"
    config.write_text("[science]\ncandidates = 3\nevaluate_top = 1\n")

    start = {name: len(fake.requests) for name, fake in endpoints.items()}
    command = generate_command(server, legal, tmp_path / "legal-run", "--samples", "1", "--rounds", "2", task="legal")
    result = run_generate(command)
    assert result.returncode == 0, result.stderr
    legal_run = RunDirectory(tmp_path / "legal-run")
    trajectories = list(legal_run.trajectories())
    assert sorted(t["doc_id"] for t in trajectories) == ["L00", "L01"] and not legal_run.errors()
    # The served legal graph ran (its extractor, its loop judge) with the client's context: at most 2 rounds.
    assert all(t["extract"]["suitable_for_synthetic_question"] for t in trajectories)
    assert all(1 <= len(t["rounds"]) <= 2 and all("grpo_suitability" in r["judge"] for r in t["rounds"]) for t in trajectories)
    items = legal_run.items()
    assert len({item["id"] for item in items}) == len(items)
    assert all(all(c["capability"] for c in item["rubric"]) for item in items)
    legal_context = json.loads((tmp_path / "legal-run" / "config.json").read_text())["context"]
    assert legal_context["samples"] == 1 and legal_context["max_improve_rounds"] == 1 and legal_context["shape"]
    new = [r for name, fake in endpoints.items() for r in fake.requests[start[name] :]]
    assert {"LegalExtract", "LoopJudgeVerdict"} <= {r.tool for r in new}

    start = {name: len(fake.requests) for name, fake in endpoints.items()}
    command = generate_command(server, science.parent, tmp_path / "science-run", "--samples", "1", "--rounds", "1",
                               "--config", str(config), task="science")  # fmt: skip
    result = run_generate(command)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "science-run" / "stats.json").read_text())
    assert stats["documents"] == 2 and stats["failed"] == 0 and stats["rounds"] == 2  # one round each (--rounds 1)
    assert len(list(RunDirectory(tmp_path / "science-run").trajectories())) == 2
    # The served science graph ran with the client's [science] section: 3 challenger drafts per round, not 4.
    new = [r for name, fake in endpoints.items() for r in fake.requests[start[name] :]]
    assert sum(r.tool == "ScienceItemDraft" for r in new) == 2 * 3, Counter(r.tool for r in new)


def test_a_run_ending_in_error_on_the_server_is_a_failed_document_and_resumes(server, script, tmp_path):
    sources, out = write_papers(tmp_path / "src", 3, "E"), tmp_path / "run"
    script.fail_on = {"E01"}
    try:
        result = run_generate(generate_command(server, sources, out, *SMALL))
    finally:
        script.fail_on = set()
    assert result.returncode == 3, result.stderr
    (error,) = RunDirectory(out).errors()
    assert error["kind"] == "failed" and "E01" in error["path"]
    assert "challenger endpoint is broken" in error["reason"] or "500" in error["reason"], error["reason"]
    assert len(RunDirectory(out).items()) == 2

    again = run_generate(generate_command(server, sources, out, *SMALL))
    assert again.returncode == 0, again.stderr
    assert_each_item_once(out, 3)
    assert not RunDirectory(out).errors()


class Failing5xx:
    """A loopback stand-in for a LangGraph API whose every answer is HTTP 503 (an overloaded proxy)."""

    def __init__(self) -> None:
        async def unavailable(request):
            return JSONResponse({"detail": "upstream unavailable (stand-in)"}, status_code=503)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        app = Starlette(routes=[Route("/{path:path}", unavailable, methods=methods)])
        self.port = unused_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        wait_until(lambda: self._server.started, 10, "the 5xx stand-in")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def test_a_5xx_or_a_refused_connection_is_a_failed_document_and_the_run_resumes_on_the_stack(server, tmp_path):
    sources, out = write_papers(tmp_path / "src", 3, "F"), tmp_path / "run"
    with Failing5xx() as failing:
        result = run_generate(generate_command(failing, sources, out, *SMALL), timeout=120)
    assert result.returncode == 3, result.stderr
    errors = RunDirectory(out).errors()
    assert len(errors) == 3 and all("upstream unavailable" in e["reason"] for e in errors), errors

    refused = f"http://127.0.0.1:{unused_port()}"
    result = run_generate(generate_command(refused, sources, out, *SMALL, "--concurrency", "1"), timeout=120)
    assert result.returncode == 3, result.stderr
    errors = RunDirectory(out).errors()
    # The first document waits out the transport's retries; the others fail after one quick look.
    assert len(errors) == 3 and "ConnectError" in errors[0]["reason"], errors
    assert all("unreachable" in e["reason"] for e in errors[1:]), errors

    result = run_generate(generate_command(server, sources, out, *SMALL))
    assert result.returncode == 0, result.stderr
    assert_each_item_once(out, 3)
    assert not RunDirectory(out).errors()


def first_node_call(request) -> bool:
    """A call of the round's first two nodes: the challenger, and the verifier's check of its item (the same
    role's end filter comes last)."""
    return request.role == "challenger" or (request.role == "quality_verifier" and request.tool == "QualityReport")


def full_document_calls(endpoints) -> int:
    """The model calls of one cs-research document with SMALL settings (every S paper made the same)."""
    (count,) = set((requests_of(endpoints, "S")["replica-1"] + requests_of(endpoints, "S")["replica-2"]).values())
    return count


def test_a_replica_killed_mid_round_loses_and_duplicates_nothing_and_reruns_no_finished_node(
    stack, server, endpoints, first_run, tmp_path
):  # fmt: skip
    full = full_document_calls(endpoints)
    sources, out = write_papers(tmp_path / "src", 8, "K"), tmp_path / "run"
    victim = endpoints["replica-2"]
    victim.fake.latency = 0.4  # slower calls on the victim, so the kill finds documents mid-round there
    client = subprocess.Popen(generate_command(server, sources, out, *SMALL, *CONCURRENCY), env=client_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_until(lambda: max(calls_per_paper(victim.requests, "K").values(), default=0) >= 3, 120, "a round on replica-2")
        stack.kill("replica-2")
        at_kill = calls_per_paper(victim.requests, "K")
        _, stderr = client.communicate(timeout=240)
    finally:
        victim.fake.latency = LATENCY
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, stderr
    assert_each_item_once(out, 8)
    assert not RunDirectory(out).errors()

    survivor = calls_per_paper(endpoints["replica-1"].requests, "K")
    interrupted = [p for p, n in at_kill.items() if n < full]
    assert interrupted, f"the kill landed between documents: {at_kill}"
    for paper in interrupted:
        # Only the step in flight at the kill is made again (at most 2 parallel samples), never a finished node.
        redone = at_kill[paper] + survivor[paper] - full
        assert 0 <= redone <= 2, (paper, at_kill[paper], survivor[paper], full)
        if at_kill[paper] >= 3:  # challenger and verifier had finished: neither is called again
            again = [r.role for r in endpoints["replica-1"].requests if paper_of(r) == paper and first_node_call(r)]
            assert not again, f"{paper}: {again} ran again after the kill"
    for paper, count in at_kill.items():
        if count == full:  # finished on replica-2 before the kill: not run again
            assert survivor[paper] == 0
    untouched = [f"K{i:02d}" for i in range(8) if f"K{i:02d}" not in at_kill]
    assert all(survivor[p] == full for p in untouched)


def test_the_replica_under_the_client_restarted_mid_run_loses_nothing_and_a_rerun_finishes(
    stack, server, endpoints, first_run, tmp_path
):  # fmt: skip
    """replica-2 is gone since the test above; replica-1, the client's server, is killed mid-run and started
    again on its port. The client rides the restart out (the SDK reconnects its waits) or lists the documents
    it could not finish in errors.jsonl with the reason and exits 3; either way nothing is missing or doubled,
    it never hangs, and the same command then finishes every document once without re-running their
    finished nodes."""
    full = full_document_calls(endpoints)
    sources, out = write_papers(tmp_path / "src", 4, "R"), tmp_path / "run"
    replica = endpoints["replica-1"]
    command = generate_command(server, sources, out, *SMALL, "--concurrency", "2")
    client = subprocess.Popen(command, env=client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: max(calls_per_paper(replica.requests, "R").values(), default=0) >= 3, 120, "a round on replica-1")
        stack.kill("replica-1")
        at_kill = calls_per_paper(replica.requests, "R")
        stack.start_replica("replica-1", env=replica_env(replica.base_url), port=int(server.rsplit(":", 1)[1]))
        _, stderr = client.communicate(timeout=180)
    finally:
        if client.poll() is None:
            client.kill()
    run = RunDirectory(out)
    finished = {t["doc_id"] for t in run.trajectories()}
    failed = {e["doc_id"]: e["reason"] for e in run.errors()}
    assert client.returncode == (3 if failed else 0), stderr
    assert len(finished) + len(failed) == 4 and not finished & set(failed), (finished, failed)
    assert all(failed.values())

    result = run_generate(command)
    assert result.returncode == 0, result.stderr
    assert_each_item_once(out, 4)
    assert not RunDirectory(out).errors()
    after = calls_per_paper(replica.requests, "R")
    for paper, count in at_kill.items():
        assert after[paper] - full <= 2, (paper, count, after[paper], full)
        if count >= 3:  # challenger and verifier had finished before the kill: neither is called again
            again = [r.role for r in replica.requests if paper_of(r) == paper and first_node_call(r)]
            assert len(again) == 2, f"{paper}: {again}"

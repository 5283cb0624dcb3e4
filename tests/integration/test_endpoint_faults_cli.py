"""`autodata generate` against a failing or misconfigured endpoint (the fake OpenAI server): failures are never
silent (exit 3, errors.jsonl, retried on the next run) and a misconfigured endpoint stops the run (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autodata.engine.rundir import RunDirectory
from tests.integration.test_cli_runs import (
    PLANTED_KEY,
    cli_env,
    generate_cmd,
    make_corpus,
    run_cli,
)
from tests.support.fake_openai import (
    DOWN,
    HTML_PAGE,
    UNAUTHORIZED,
    FakeOpenAIServer,
    FaultPlan,
)
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration


def one_line(text: str) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(text.split())


def read_stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def test_an_outage_mid_run_fails_documents_and_a_rerun_finishes_them(tmp_path):
    sources = make_corpus(tmp_path / "src", 10)
    out = tmp_path / "run"
    # Requests 20..35 find the endpoint down (a proxy's 503 page); before and after it answers.
    with FakeOpenAIServer(per_document_script(), faults=FaultPlan(outage=(20, 35))) as server:
        env = cli_env(server) | {"AUTODATA_MAX_RETRIES": "1"}
        first = run_cli(generate_cmd(sources, out), env)
        assert first.returncode == 3, first.stderr
        assert DOWN in {r.fault for r in server.requests}
        errors = RunDirectory(out).errors()
        finished = {row["doc_id"] for row in RunDirectory(out).trajectories()}
        stats = read_stats(out)
        assert errors and stats["failed"] == len(errors) and stats["exhausted"] == 0
        assert {e["kind"] for e in errors} == {"failed"}
        assert all("HTTP 503" in e["reason"] and server.base_url in e["reason"] for e in errors)
        assert finished.isdisjoint(e["doc_id"] for e in errors) and len(finished) + len(errors) == 10
        assert f"{len(errors)} document(s) failed (run the same command to retry them)" in one_line(first.stderr)

        server.fake.faults = FaultPlan()  # the endpoint is back
        second = run_cli(generate_cmd(sources, out), env)
    assert second.returncode == 0, second.stderr
    rows = list(RunDirectory(out).trajectories())
    assert len(rows) == 10 and len({r["id"] for r in rows}) == 10, "every document once"
    assert {r["status"] for r in rows} == {"accepted"}
    assert all(record["outcome"] != "model_error" for row in rows for record in row["rounds"])
    ids = [item["id"] for item in RunDirectory(out).items()]
    assert len(ids) == 10 == len(set(ids))
    assert RunDirectory(out).errors() == []
    stats = read_stats(out)
    assert stats["failed"] == 0 and stats["resumed"] == len(finished) and stats["accepted"] == 10


def test_a_refused_key_at_start_exits_2_naming_the_roles_url_and_status(tmp_path):
    sources = make_corpus(tmp_path / "src", 2)
    with FakeOpenAIServer(per_document_script(), api_key="sk-the-right-key") as server:
        result = run_cli(generate_cmd(sources, tmp_path / "run"), cli_env(server))
        assert not server.requests, "no document was started"
    message = one_line(result.stderr)
    assert result.returncode == 2
    assert f"{server.base_url} refused the API key with HTTP 401" in message
    assert "roles: orchestrator, challenger, quality_verifier, weak, strong, judge" in message
    assert "Traceback" not in result.stderr and PLANTED_KEY not in result.stderr


@pytest.mark.parametrize("fault, status", [(UNAUTHORIZED, "HTTP 401"), (HTML_PAGE, "HTTP 200")])
def test_a_misconfigured_endpoint_mid_run_trips_the_breaker(tmp_path, fault, status):
    sources = make_corpus(tmp_path / "src", 12)
    out = tmp_path / "run"
    # Proper answers for the first three documents, then every answer is a refused key or an HTML page.
    with FakeOpenAIServer(per_document_script(), faults=FaultPlan(schedule=[None] * 40 + [fault] * 500)) as server:
        result = run_cli(generate_cmd(sources, out), cli_env(server))
        bad = [r for r in server.requests if r.fault == fault]
    message = one_line(result.stderr)
    assert result.returncode == 2, result.stderr
    assert f"answers in a row from {server.base_url}" in message and status in message
    assert any(f"the last, to the {role} role" in message for role in ("challenger", "quality_verifier", "weak",
                                                                      "strong", "judge", "orchestrator"))
    # Five in a row stop it, plus the requests already in flight then (three documents at once, each with at most
    # three samples or grades fanned out), not four attempts of every call of all twelve documents.
    assert 5 <= len(bad) <= 5 + 3 * 3
    assert "Traceback" not in result.stderr and "never retrieved" not in result.stderr
    stats = read_stats(out)  # what finished is written
    assert stats["accepted"] == len(RunDirectory(out).items()) >= 1

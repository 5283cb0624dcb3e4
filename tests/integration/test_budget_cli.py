"""`autodata generate --max-cost` / `--max-tokens`: a budget stops new documents with exit 4, a
re-run with a higher budget finishes the rest, and nothing is done twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autodata.engine.rundir import RunDirectory
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration
DOCUMENTS = 6


def make_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    for i in range(DOCUMENTS):
        (root / f"doc{i:02d}.md").write_text(f"# Paper {i:02d}\n\nA distinct finding number {i} about topic {i * 13}.")
    return root


def run_generate(server: FakeOpenAIServer, sources: Path, out: Path, *budget: str, **prices: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update(server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false", **prices))
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", "cs-research", "--sources", str(sources),
           "--out", str(out), "--samples", "2", "--rounds", "2", "--concurrency", "2", *budget]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


# USD 1 per token: a budget of a few dollars is spent by the first document.
PRICES = {"AUTODATA_PRICE_INPUT": "1000000", "AUTODATA_PRICE_OUTPUT": "1000000"}


def challenger_requests(server: FakeOpenAIServer) -> list[str]:
    """Which paper each challenger request was about (every document is accepted in its first round)."""
    papers = []
    for request in server.requests:
        if request.role == "challenger":
            text = " ".join(str(message.get("content")) for message in request.messages)
            papers.append(next(f"Paper {i:02d}" for i in range(DOCUMENTS) if f"Paper {i:02d}" in text))
    return papers


def test_a_budget_stops_new_documents_and_a_higher_one_resumes_exactly(tmp_path):
    sources, out = make_corpus(tmp_path / "src"), tmp_path / "run"
    with FakeOpenAIServer(per_document_script()) as server:
        stopped = run_generate(server, sources, out, "--max-cost", "5", **PRICES)
        assert stopped.returncode == 4, stopped.stderr
        assert "--max-cost $5 reached" in stopped.stderr and "higher budget to continue" in stopped.stderr
        stats = json.loads((out / "stats.json").read_text())
        finished = stats["documents"]
        assert 1 <= finished < DOCUMENTS and stats["budget_stop"]
        assert stats["cost"]["total"] > 5 and stats["cost"]["per_document"] == pytest.approx(
            stats["cost"]["total"] / finished
        )
        first_run = challenger_requests(server)

        resumed = run_generate(server, sources, out, "--max-cost", "1000000000", **PRICES)
        assert resumed.returncode == 0, resumed.stderr
    run = RunDirectory(out)
    trajectory_ids = [row["id"] for row in run.trajectories()]
    item_ids = [item["id"] for item in run.items()]
    assert len(trajectory_ids) == len(set(trajectory_ids)) == DOCUMENTS
    assert len(item_ids) == len(set(item_ids)) == DOCUMENTS
    papers = challenger_requests(server)
    assert sorted(papers) == sorted(set(papers)) and len(papers) == DOCUMENTS  # no paper was started twice
    assert set(papers[len(first_run):]).isdisjoint(first_run)
    final = json.loads((out / "stats.json").read_text())
    assert final["budget_stop"] is None and final["accepted"] == DOCUMENTS
    assert final["cost"]["per_accepted_item"] == pytest.approx(final["cost"]["total"] / DOCUMENTS)


def test_a_token_budget_needs_no_prices_and_a_cost_budget_does(tmp_path):
    sources = make_corpus(tmp_path / "src")
    with FakeOpenAIServer(per_document_script()) as server:
        unpriced = run_generate(server, sources, tmp_path / "unpriced", "--max-cost", "5")
        assert unpriced.returncode == 2 and "--max-cost needs price_input and price_output" in unpriced.stderr
        by_tokens = run_generate(server, sources, tmp_path / "tokens", "--max-tokens", "1")
    assert by_tokens.returncode == 4, by_tokens.stderr
    stats = json.loads((tmp_path / "tokens" / "stats.json").read_text())
    assert stats["documents"] < DOCUMENTS and "--max-tokens 1 reached" in stats["budget_stop"]
    assert stats["cost"]["total"] is None  # no prices: unknown, not 0

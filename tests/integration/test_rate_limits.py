"""`autodata generate` against endpoints that rate-limit as hosted APIs and gateways do (the fake OpenAI server
answering 429 with a Retry-After past N requests in flight, or past N requests per window), with no limit
given: every document finishes, the 429s stay few once the limit is found, and throughput stays close to
what the right static limit (`--max-requests`) gets."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_cli_runs import cli_env, make_corpus, run_cli
from tests.support.fake_openai import RATE_LIMIT, FakeOpenAIServer
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration

CAP, LATENCY, DOCUMENTS = 8, 0.25, 24  # the endpoint serves 8 at once (Retry-After: 1 beyond), 250 ms each
SETTLED_AFTER = 3.0  # seconds: the limit is found by then (it starts at 16 and halves at the first 429s)
MAX_LATE_429_SHARE = 0.15  # measured: 0.03-0.06
MIN_THROUGHPUT_RATIO = 0.75  # of the static limit's documents per second; measured: 0.95-1.0


def generate(sources: Path, out: Path, server: FakeOpenAIServer, *extra: str, **env: str) -> dict:
    cmd = ["generate", "--task", "cs-research", "--sources", str(sources), "--out", str(out), "--samples", "2",
           "--rounds", "2", "--concurrency", "8", *extra]  # fmt: skip
    result = run_cli([sys.executable, "-m", "autodata.cli", *cmd], cli_env(server) | env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "stats.json").read_text())


@dataclass
class Seen:
    stats: dict
    requests: int
    refused: int
    late_share: float  # of the requests after SETTLED_AFTER, those answered 429


def run_against(server: FakeOpenAIServer, sources: Path, out: Path, *extra: str, **env: str) -> Seen:
    first = len(server.requests)
    stats = generate(sources, out, server, *extra, **env)
    requests = server.requests[first:]
    late = [r for r in requests if r.arrived - requests[0].arrived > SETTLED_AFTER]
    refused = sum(r.fault == RATE_LIMIT for r in requests)
    share = sum(r.fault == RATE_LIMIT for r in late) / max(1, len(late))
    return Seen(stats, len(requests), refused, share)


def test_under_a_concurrency_cap_every_document_finishes_with_few_429s_near_the_static_limit_s_throughput(tmp_path):
    sources = make_corpus(tmp_path / "src", DOCUMENTS)
    with FakeOpenAIServer(per_document_script(), latency=LATENCY, max_in_flight=CAP, in_flight_retry_after=1.0) as server:
        static = run_against(server, sources, tmp_path / "static", "--max-requests", str(CAP))
        adaptive = run_against(server, sources, tmp_path / "adaptive")
    assert static.refused == 0 and static.stats["accepted"] == DOCUMENTS
    assert adaptive.stats["failed"] == 0 and adaptive.stats["accepted"] == DOCUMENTS, "no document fails"
    assert adaptive.refused > 0, "the limit was found by overshooting it"
    assert adaptive.late_share <= MAX_LATE_429_SHARE, f"{adaptive.late_share:.1%} of the later requests got 429"
    ratio = static.stats["wall_seconds"] / adaptive.stats["wall_seconds"]
    assert ratio >= MIN_THROUGHPUT_RATIO, f"adaptive throughput {ratio:.2f} of the static limit's"
    # The retries of 429s were free: no call used up its transport retries, none failed.
    assert all(usage["failures"] == 0 for usage in adaptive.stats["usage"].values())
    # stats.json records the limit over time: it started above the cap, was cut, and ended near it.
    (endpoint,) = adaptive.stats["endpoints"].values()
    limits = [limit for _, limit in endpoint["history"]]
    assert limits[0] == 16 and min(limits) < CAP and CAP // 2 <= endpoint["limit"] <= CAP + 2
    assert endpoint["backpressure"] == adaptive.refused and endpoint["ceiling"] is None
    (fixed,) = static.stats["endpoints"].values()
    assert fixed["ceiling"] == CAP and {limit for _, limit in fixed["history"]} == {CAP}


WINDOW = (10, 1.0)  # 10 requests per second, as a 600-requests-per-minute tier enforced per second


def test_under_a_requests_per_window_cap_no_document_fails_and_a_set_budget_avoids_the_429s(tmp_path):
    sources = make_corpus(tmp_path / "src", 6)
    with FakeOpenAIServer(per_document_script(), latency=0.05, window=WINDOW) as server:
        unset = run_against(server, sources, tmp_path / "unset")
        budgeted = run_against(server, sources, tmp_path / "budget", AUTODATA_REQUESTS_PER_MINUTE="570")
    assert unset.stats["failed"] == 0 and unset.stats["accepted"] == 6 and unset.refused > 0
    assert budgeted.stats["failed"] == 0 and budgeted.stats["accepted"] == 6
    assert budgeted.refused == 0, "paced to the published limit, the endpoint never had to refuse"

"""Throughput against an endpoint whose latency is long-tailed, as real ones are.

`benchmarks/throughput.py` answers every request after exactly L. Here the fake endpoint (a child process)
draws each request's latency from a log-normal: median 2 s, p99 about 15 s (sigma = ln(p99 / median) / 2.326).
C = 256 request slots shared by every role (`max_concurrent_requests`), 2C documents in flight, every document
accepted in round one (3 + 4k calls, as in throughput.py). Reported, from the server's own record of when each
request arrived and was answered:

- the ratio to C / L-bar, L-bar being the mean latency the requests actually had: the share of the endpoint's
  capacity used over the whole run. Once the last document has started, the documents in flight finish one by
  one, each waiting on its slowest answers, and slots go idle that no client can fill (no work is left); so
  the ratio is also given while documents were still being started (steady state: from the endpoint's first
  full moment to the last document's first request). That is what the target (>= 0.97) is about, and it
  needs more documents than are in flight (default: 1000 with 512 in flight);
- how long a slot stays idle: each answer frees a slot, and the next request that arrives takes the slot that
  has been free longest; the gap between the two, p50 / p99 / max, over the slots taken again in steady state.

    python benchmarks/realistic_latency.py [--concurrency 256] [--documents 1000] [--median 2] [--p99 15]

The default size takes about five minutes of wall time (mostly waiting on the fake latencies; light on CPU);
`--concurrency 64 --documents 300` gives a quicker look.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autodata.engine.rundir import RunDirectory  # noqa: E402
from autodata.tasks.runner import GenerateOptions, Generator  # noqa: E402
from benchmarks.throughput import documents, fake_server_provider  # noqa: E402
from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402

Z_99 = 2.3263  # the standard normal's 99th percentile
TARGET = 0.97


def sigma_for(median: float, p99: float) -> float:
    """The log-normal spread whose 99th percentile is `p99` for this median."""
    return math.log(p99 / median) / Z_99


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))] if ordered else float("nan")


Span = tuple[float, float]  # (arrived, answered) of one request, server clock


def slot_idle_gaps(spans: Sequence[Span], concurrency: int, until: float) -> list[float]:
    """Seconds each freed slot stayed idle until a request took it again (the slot free longest goes first),
    for the requests that arrived up to `until`; the first C requests take slots never used before."""
    events = sorted([(arrived, 1) for arrived, _ in spans] + [(answered, 0) for _, answered in spans])
    free: deque[float] = deque([events[0][0]] * concurrency)
    gaps: list[float] = []
    for moment, is_arrival in events:  # at equal times an answer (0) comes before an arrival (1)
        if is_arrival and moment <= until:
            freed = free.popleft() if free else moment  # more in flight than C: the client's limit was not kept
            gaps.append(moment - freed)
        elif not is_arrival:
            free.append(moment)
    return gaps[concurrency:]


def busy_share(spans: Sequence[Span], concurrency: int, start: float, end: float) -> float | None:
    """Share of C x (end - start) slot-seconds that a request was in progress (None for an empty window)."""
    if end <= start:
        return None
    busy = sum(max(0.0, min(answered, end) - max(arrived, start)) for arrived, answered in spans)
    return busy / (concurrency * (end - start))


@dataclass
class LatencyResult:
    concurrency: int
    documents: int
    documents_in_flight: int
    median_latency: float
    p99_latency: float
    mean_latency: float  # L-bar: what the requests actually took at the server
    measured_p99_latency: float
    calls: int
    accepted: int
    wall_seconds: float
    ratio: float  # calls / wall against C / L-bar, the whole run
    steady_ratio: float | None  # slot occupancy while documents were still being started
    steady_seconds: float
    idle_p50: float
    idle_p99: float
    idle_max: float
    drain_seconds: float  # from the last document's start to the last answer

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyse(timeline: Sequence[tuple[float, float | None, str]], concurrency: int, wall: float) -> dict[str, Any]:
    spans = [(arrived, done) for arrived, done, _ in timeline if done is not None]
    latencies = [done - arrived for arrived, done in spans]
    mean = statistics.fmean(latencies)
    arrivals = sorted(arrived for arrived, _ in spans)
    full = arrivals[min(concurrency, len(arrivals)) - 1]  # the endpoint's first full moment
    last_start = max(arrived for arrived, _, role in timeline if role == "challenger")  # a document's 1st call
    gaps = slot_idle_gaps(spans, concurrency, until=last_start)
    steady = busy_share(spans, concurrency, full, last_start)
    return {
        "mean_latency": round(mean, 3), "measured_p99_latency": round(percentile(latencies, 0.99), 3),
        "calls": len(spans), "ratio": round(len(spans) * mean / concurrency / wall, 4),
        "steady_ratio": None if steady is None else round(steady, 4), "steady_seconds": round(last_start - full, 1),
        "idle_p50": round(percentile(gaps, 0.5), 4), "idle_p99": round(percentile(gaps, 0.99), 4),
        "idle_max": round(max(gaps, default=0.0), 4),
        "drain_seconds": round(max(done for _, done in spans) - last_start, 1),
    }  # fmt: skip


async def _generate(provider: Any, n_docs: int, in_flight: int, samples: int) -> tuple[Any, list[str]]:
    """The run's stats, and why documents failed (errors.jsonl), if any did."""
    options = GenerateOptions(task="cs-research", samples=samples, max_rounds=1, concurrency=in_flight, run_id="bench")
    with tempfile.TemporaryDirectory(prefix="autodata-bench-") as tmp:
        run_dir = RunDirectory(Path(tmp) / "run")
        stats = await Generator(options, provider, run_dir).run(documents(n_docs))
        return stats, [f"{error['doc_id']}: {error['reason']}" for error in run_dir.errors()]


def measure(concurrency: int = 256, n_docs: int = 1000, median: float = 2.0, p99: float = 15.0,
            in_flight: int | None = None, samples: int = 4, seed: int = 0) -> LatencyResult:  # fmt: skip
    in_flight = in_flight or 2 * concurrency
    sigma = sigma_for(median, p99)
    server = FakeOpenAIProcess("benchmarks.throughput:answer", latency=median, latency_sigma=sigma, seed=seed)
    with server:
        # A slow answer must not fail its document: the longest draws are several times p99.
        provider = fake_server_provider(server.base_url, max_requests=concurrency, timeout=60 * p99)
        started = time.perf_counter()
        stats, errors = asyncio.run(_generate(provider, n_docs, in_flight, samples))
        wall = time.perf_counter() - started
        timeline = server.timeline()
    figures = analyse(timeline, concurrency, wall)
    for error in errors[:5]:
        print(f"note: failed {error}", file=sys.stderr)
    return LatencyResult(
        concurrency=concurrency, documents=n_docs, documents_in_flight=in_flight, median_latency=median,
        p99_latency=p99, accepted=stats.accepted, wall_seconds=round(wall, 2), **figures,
    )  # fmt: skip


def describe(r: LatencyResult) -> str:
    if r.steady_ratio is None:
        steady = "no steady state (every document was in flight from the start: use more documents than in flight)"
    else:
        verdict = "MET" if r.steady_ratio >= TARGET else "MISSED"
        steady = f"{r.steady_ratio:.3f} in the {r.steady_seconds:.0f}s of steady state (target >= {TARGET}: {verdict})"
    return (
        f"C={r.concurrency} docs={r.documents} ({r.documents_in_flight} in flight), log-normal latency median "
        f"{r.median_latency:g}s p99 {r.p99_latency:g}s (measured: mean L-bar {r.mean_latency:.2f}s, "
        f"p99 {r.measured_p99_latency:.1f}s): {r.calls} calls in {r.wall_seconds:.0f}s, accepted "
        f"{r.accepted}/{r.documents}\n"
        f"    ratio to C/L-bar {r.ratio:.3f} over the whole run (of which {r.drain_seconds:.0f}s after the last "
        f"document started); {steady}\n"
        f"    a freed slot stays idle p50 {r.idle_p50 * 1000:.1f} ms, p99 {r.idle_p99 * 1000:.1f} ms, "
        f"max {r.idle_max * 1000:.0f} ms (steady state)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", "-c", type=int, default=256, help="the endpoint's request slots")
    parser.add_argument("--documents", "-n", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=None, help="documents in flight; default 2 x concurrency")
    parser.add_argument("--median", type=float, default=2.0, help="median latency, seconds")
    parser.add_argument("--p99", type=float, default=15.0, help="99th percentile latency, seconds")
    parser.add_argument("--samples", "-k", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.concurrency, args.documents, args.median, args.p99, args.in_flight, args.samples, args.seed)
    print(json.dumps(result.as_dict()) if args.json else describe(result))


if __name__ == "__main__":
    main()

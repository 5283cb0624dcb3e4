"""`make bench`: the throughput benchmark at the issue's operating points (and at C=32, L=100 ms with
`client = "langchain-openai"`, to measure the lean client's advantage in the same run), throughput against a
long-tailed latency, checkpoint bytes per document, tokens and cost per accepted item, the per-layer call cost,
the near-duplicate lookup, peak memory against corpus size and against one large source file's size, and
documents per second through one LangGraph API replica and two on Postgres and Redis (benchmarks/scale_out.py).

Targets: >= 90% of the limit C/L at C=32, L=100 ms; framework overhead < 2% of wall time at
L=50 ms (C = the endpoint's concurrent requests; see benchmarks/throughput.py). Also: >= 0.97 of C/L-bar
with log-normal latency (benchmarks/realistic_latency.py); checkpoints <= 2x the document plus its trajectory
row (benchmarks/checkpoint_size.py). Prints each figure against its target; never fails the build (a
benchmark, not a test). The machine is shared and noisy: each throughput point runs `--repeat` times (default
3) and the best run is reported, with the spread.

    python benchmarks/run_all.py [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    checkpoint_size,
    corpus_memory,
    cost_per_item,
    dedup,
    memory,
    rate_limits,
    realistic_latency,
    scale_out,
)
from benchmarks.call_overhead import measure_layers, report  # noqa: E402
from benchmarks.throughput import default_documents, describe, measure  # noqa: E402
from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402

# (endpoint concurrency C, latency L in seconds, what is checked, the roles' client)
POINTS = [
    (32, 0.100, "ratio >= 0.90", "autodata"),
    (32, 0.100, "ratio >= 0.90", "langchain-openai"),  # the README's claim about the lean client, measured
    (1, 0.050, "overhead < 2%", "autodata"),
    (8, 0.050, "overhead < 2%", "autodata"),
    (32, 0.050, "overhead < 2%", "autodata"),
]


def verdict(check: str, result: Any) -> str:
    """The target against the nominal L, and against a bare client's round trip R on the same server."""

    def met(ratio: float, overhead: float) -> str:
        return "MET" if (ratio >= 0.90 if check.startswith("ratio") else overhead < 0.02) else "MISSED"

    nominal, bare = met(result.ratio, result.overhead), met(result.effective_ratio, result.effective_overhead)
    return f"target {check}: {nominal} against L, {bare} against R"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point; the best is reported")
    parser.add_argument("--latency-documents", type=int, default=1000, help="documents of the long-tailed run")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = []
    for concurrency, latency, check, client in POINTS:
        with FakeOpenAIProcess("benchmarks.throughput:answer", latency=latency) as server:
            runs = [measure(server, concurrency, latency, default_documents(concurrency), client=client)
                    for _ in range(args.repeat)]  # fmt: skip
        best = max(runs, key=lambda r: r.ratio)
        spread = ", ".join(f"{r.ratio:.3f}" for r in runs)
        print(f"{describe(best)}\n    ratios of {len(runs)} runs: {spread}; {verdict(check, best)}")
        results.append({**best.as_dict(), "target": check, "ratios": [r.ratio for r in runs]})
    print("\nlong-tailed latency (benchmarks/realistic_latency.py):")
    tail = realistic_latency.measure(n_docs=args.latency_documents)
    print(realistic_latency.describe(tail))
    print("\ncheckpoint bytes per document (benchmarks/checkpoint_size.py):")
    checkpoints = checkpoint_size.measure()
    print(checkpoint_size.report(checkpoints))
    print("\ntokens and cost per accepted item (benchmarks/cost_per_item.py; README, \"What a run costs\"):")
    print(cost_per_item.report(cost_per_item.measure()))
    with FakeOpenAIProcess("benchmarks.throughput:answer", latency=0.0) as server:
        layers = asyncio.run(measure_layers(server.base_url))
    print("\nclient CPU per model call, by layer (zero model latency, one call at a time):")
    print(report(layers))
    lookups = dedup.measure([1000, 2000, 4000])
    print("\nnear-duplicate lookup per accepted item (benchmarks/dedup.py):")
    print(dedup.report(lookups))
    peaks = memory.measure_sizes([200, 1000])
    print("\npeak memory as the corpus grows (benchmarks/memory.py):")
    print(memory.report(peaks))
    reads = corpus_memory.measure_kinds()
    print("\npeak memory reading one ~200 MB source file (benchmarks/corpus_memory.py):")
    print(corpus_memory.report(reads))
    print("\nadaptive concurrency against an endpoint's unknown limit (benchmarks/rate_limits.py):")
    print("\n".join(rate_limits.report(*rate_limits.measure(), cap=8)))
    print("\nscale-out: Postgres, Redis, one API replica then two (benchmarks/scale_out.py):")
    try:
        replicas = scale_out.measure()
        print(scale_out.report(replicas))
        scaled = replicas.as_dict()
    except RuntimeError as exc:  # Postgres, Redis or .venv-scale missing: the other figures still count
        scaled = {"skipped": str(exc)}
        print(f"  skipped: {exc}")
    if args.json:
        payload = {"machine": machine(), "throughput": results, "layers": [list(row) for row in layers],
                   "dedup": lookups, "memory": peaks, "corpus_memory": reads, "long_tailed_latency": tail.as_dict(),
                   "checkpoint_size": checkpoints.as_dict(), "scale_out": scaled}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()

"""Peak memory of `autodata generate`'s engine as the corpus grows: it should stay flat.

Documents are streamed from a generator (never a list), every document runs the whole self_instruct graph
against the fake OpenAI-compatible server (zero latency) with SQLite checkpoints, and each corpus size
runs in a fresh child process so its peak RSS is its own. What may grow with the corpus is what a run must
remember about its output: the ids of written items and the near-duplicate index of their questions
(a few hundred bytes per accepted item), and a small summary per finished document for re-run bookkeeping.
The report is the peak RSS per size, the growth per 1,000 documents, and the ratio largest/smallest.

    python benchmarks/memory.py --sizes 200 1600
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autodata.state.schemas import SourceDocument  # noqa: E402
from benchmarks.throughput import _run_generator, document, fake_server_provider  # noqa: E402
from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402

CONCURRENCY = 32


def streamed_documents(n: int) -> Iterator[SourceDocument]:
    return (document(i) for i in range(n))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


async def _generate(base_url: str, n: int) -> int:
    provider = fake_server_provider(base_url, max_requests=CONCURRENCY)
    _, _, stats = await _run_generator(provider, streamed_documents(n), 2 * CONCURRENCY, samples=4, checkpoints=True)
    return stats.accepted


def child(base_url: str, n: int) -> None:
    import datasets  # noqa: F401 - the run ends by writing the dataset: its import (~140 MB) is in every size's baseline

    accepted = asyncio.run(_generate(base_url, n))
    print(json.dumps({"documents": n, "accepted": accepted, "peak_rss_mb": round(peak_rss_mb(), 1)}))


def measure(base_url: str, n: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--base-url", base_url, "--sizes", str(n)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "LANGSMITH_TRACING": "false"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_sizes(sizes: list[int]) -> list[dict]:
    with FakeOpenAIProcess("benchmarks.throughput:answer", latency=0.0) as server:
        return [measure(server.base_url, n) for n in sizes]


def report(results: list[dict]) -> str:
    lines = [f"{r['documents']:>6} documents ({r['accepted']} accepted): peak RSS {r['peak_rss_mb']:.0f} MB" for r in results]
    small, large = results[0], results[-1]
    per_thousand = (large["peak_rss_mb"] - small["peak_rss_mb"]) / (large["documents"] - small["documents"]) * 1000
    lines.append(f"growth {per_thousand:.1f} MB per 1,000 documents; peak RSS ratio "
                 f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f} for {large['documents'] / small['documents']:.0f}x the documents")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1600], help="corpus sizes (documents)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.base_url, args.sizes[0])
    else:
        print(report(measure_sizes(args.sizes)))


if __name__ == "__main__":
    main()

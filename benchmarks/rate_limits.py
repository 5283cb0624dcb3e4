"""Adaptive concurrency against an endpoint with a limit the user does not know.

The fake server (a child process) serves `--cap` requests at once and answers the rest with HTTP 429 and
`Retry-After: 1`, as hosted APIs and gateways do. `autodata generate` runs the same corpus twice through the
real CLI: with the right static limit (`--max-requests CAP`) and with no limit (the default: adaptive).
Prints documents per second of each, their ratio (target >= 0.75) and the share of requests answered 429,
overall and after the first `SETTLED_AFTER` seconds (target <= 0.15).

    python benchmarks/rate_limits.py [--documents 32] [--cap 8] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402
from tests.support.graph_script import per_document_script  # noqa: E402

answer = per_document_script()  # the fake server's script (its process imports it by name)
SETTLED_AFTER = 3.0
RATIO_TARGET, LATE_SHARE_TARGET = 0.75, 0.15


@dataclass
class Run:
    documents_per_second: float
    requests: int
    refused_share: float
    late_refused_share: float
    failed: int


def corpus(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i:03d}.md").write_text(f"# Paper {i:03d}\n\nA distinct finding number {i} about topic {i * 13}.")
    return root


def generate(server: FakeOpenAIProcess, sources: Path, out: Path, *extra: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update(server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false", AUTODATA_API_KEY="sk-bench"))
    first = len(server.timeline())
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", "cs-research", "--sources", str(sources),
           "--out", str(out), "--samples", "2", "--rounds", "2", "--concurrency", "8", *extra]  # fmt: skip
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if result.returncode not in (0, 3):
        raise RuntimeError(f"generate failed (exit {result.returncode}): {result.stderr[-2000:]}")
    stats = json.loads((out / "stats.json").read_text())
    timeline = server.timeline()[first:]
    start = timeline[0][0]
    late = [answered for arrived, answered, _ in timeline if arrived - start > SETTLED_AFTER]
    return Run(
        documents_per_second=stats["documents"] / stats["wall_seconds"],
        requests=len(timeline),
        refused_share=sum(answered is None for _, answered, _ in timeline) / len(timeline),
        late_refused_share=sum(answered is None for answered in late) / max(1, len(late)),
        failed=stats["failed"],
    )


def measure(documents: int = 32, cap: int = 8, latency: float = 0.25) -> tuple[Run, Run]:
    """(the right static limit's run, the adaptive run) against the same capped endpoint."""
    script = "benchmarks.rate_limits:answer"
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIProcess(
        script, latency=latency, max_in_flight=cap, in_flight_retry_after=1.0
    ) as server:
        sources = corpus(Path(tmp) / "src", documents)
        static = generate(server, sources, Path(tmp) / "static", "--max-requests", str(cap))
        adaptive = generate(server, sources, Path(tmp) / "adaptive")
    return static, adaptive


def report(static: Run, adaptive: Run, cap: int) -> list[str]:
    ratio = adaptive.documents_per_second / static.documents_per_second
    return [
        f"endpoint cap {cap} in flight, 429 + Retry-After: 1 beyond it",
        f"  static --max-requests {cap}: {static.documents_per_second:.2f} docs/s, {static.requests} requests, "
        f"{static.refused_share:.1%} answered 429, {static.failed} failed",
        f"  adaptive (default):      {adaptive.documents_per_second:.2f} docs/s, {adaptive.requests} requests, "
        f"{adaptive.refused_share:.1%} answered 429, {adaptive.failed} failed",
        f"  throughput ratio adaptive/static: {ratio:.2f} (target >= {RATIO_TARGET}: "
        f"{'MET' if ratio >= RATIO_TARGET else 'MISSED'})",
        f"  429 share after the first {SETTLED_AFTER:g} s: {adaptive.late_refused_share:.1%} (target <= "
        f"{LATE_SHARE_TARGET:.0%}: {'MET' if adaptive.late_refused_share <= LATE_SHARE_TARGET else 'MISSED'})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=32)
    parser.add_argument("--cap", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.25)
    args = parser.parse_args()
    static, adaptive = measure(args.documents, args.cap, args.latency)
    print("\n".join(report(static, adaptive, args.cap)))


if __name__ == "__main__":
    main()

"""Scale-out benchmark: documents per second through one API replica and through two, on the real stack.

Postgres and Redis from the distribution's packages, replicas of `langgraph-api` with the `pg` runtime
(.venv-scale, `make scale-venv`), the fake model endpoint in a child process at a fixed latency, and
`autodata generate --server` run as users run it (a subprocess, whose CPU time is the client's). The corpus
is run once through one replica, then (a fresh corpus: new threads) through two. Each replica runs
`--jobs` runs at once and the client submits enough documents at once to keep every replica full, so the
limit is replicas x jobs, as on a cluster.

Printed as ratios: documents/s with two replicas over one, and the client's CPU per document beyond its
fixed cost (start-up, reading the run directory, writing the dataset), which the same command run again
measures: then every document is skipped and the server is not called. Not a timed test: it never fails the build. On a 2-core machine
the replicas, Postgres, Redis, the endpoint and the client share the same cores, so the two-replica ratio
is a floor of what replicas on their own machines give.

    python benchmarks/scale_out.py [--documents 24] [--latency 0.5] [--jobs 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402
from tests.support.scale_out import client_env, generate_command, missing_prerequisites, replica_env, start_stack, write_papers  # noqa: E402


@dataclass
class Pass:
    replicas: int
    documents: int
    seconds: float
    client_cpu_s: float
    rerun_seconds: float  # the same command again: every document skipped, no call to the server
    rerun_cpu_s: float  # the client's fixed cost (start-up, reading the run directory, writing the dataset)

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds

    @property
    def client_cpu_ms_per_doc(self) -> float:
        """The client's CPU per document beyond its fixed cost."""
        return 1000 * max(self.client_cpu_s - self.rerun_cpu_s, 0.0) / self.documents


@dataclass
class Result:
    latency: float
    jobs: int
    one: Pass
    two: Pass

    @property
    def speedup(self) -> float:
        return self.two.docs_per_s / self.one.docs_per_s

    def as_dict(self) -> dict:
        return {"latency": self.latency, "jobs": self.jobs, "one": asdict(self.one), "two": asdict(self.two),
                "speedup": self.speedup}  # fmt: skip


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pass(server: str, workdir: Path, replicas: int, documents: int, jobs: int) -> Pass:
    """One `generate --server` over a fresh corpus; its wall time and its own CPU (a child of this process)."""
    tag = f"B{replicas}x"
    sources = write_papers(workdir / f"src-{replicas}", documents, tag)
    command = generate_command(server, sources, workdir / f"run-{replicas}", "--samples", "2", "--rounds", "2",
                               "--concurrency", str(2 * replicas * jobs))  # fmt: skip
    seconds, cpu = timed(command)
    rerun_seconds, rerun_cpu = timed(command)
    return Pass(replicas, documents, seconds, cpu, rerun_seconds, rerun_cpu)


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one client run (a child of this process, so its rusage is ours to read)."""
    cpu_before, started = children_cpu(), time.monotonic()
    result = subprocess.run(command, env=client_env(), capture_output=True, text=True, timeout=1800)
    seconds, cpu = time.monotonic() - started, children_cpu() - cpu_before
    if result.returncode != 0:
        raise RuntimeError(f"generate --server exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return seconds, cpu


def measure(documents: int = 24, latency: float = 0.5, jobs: int = 4) -> Result:
    reason = missing_prerequisites()
    if reason:
        raise RuntimeError(reason)
    with tempfile.TemporaryDirectory(prefix="autodata-scale-bench-") as tmp, \
            FakeOpenAIProcess("tests.support.scale_out:PER_DOCUMENT", latency=latency) as models:  # fmt: skip
        workdir = Path(tmp)
        stack = start_stack(workdir / "logs", heartbeat_s=5.0, jobs_per_worker=jobs)
        try:
            first = stack.start_replica("replica-1", env=replica_env(models.base_url))
            one = run_pass(first.url, workdir, 1, documents, jobs)
            stack.start_replica("replica-2", env=replica_env(models.base_url))
            two = run_pass(first.url, workdir, 2, documents, jobs)
        finally:
            stack.stop()
    return Result(latency, jobs, one, two)


def report(result: Result) -> str:
    lines = []
    for p in (result.one, result.two):
        lines.append(f"  {p.replicas} replica(s): {p.documents} documents in {p.seconds:.1f} s = {p.docs_per_s:.2f} docs/s; "
                     f"client CPU {p.client_cpu_ms_per_doc:.0f} ms/document + {p.rerun_cpu_s:.1f} s fixed; "
                     f"the same command again: {p.rerun_seconds:.1f} s")  # fmt: skip
    lines.append(f"  two replicas / one: {result.speedup:.2f}x documents/s "
                 f"(model latency {result.latency * 1000:.0f} ms, {result.jobs} runs at once per replica)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=24)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call at the fake endpoint")
    parser.add_argument("--jobs", type=int, default=4, help="N_JOBS_PER_WORKER: runs at once per replica")
    args = parser.parse_args()
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    print(report(measure(args.documents, args.latency, args.jobs)))


if __name__ == "__main__":
    main()

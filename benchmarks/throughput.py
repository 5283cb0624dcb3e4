"""Throughput of `autodata generate`'s engine (the real `Generator`) against an endpoint of fixed latency.

The models are the fake OpenAI-compatible server (tests/support/fake_openai.py) in a child process, so its
CPU is not charged to the client, answering every request after exactly L seconds. C is the endpoint's
concurrency: every role shares C request slots (`max_concurrent_requests = C`), the way a vLLM server or
an API rate limit is sized, so the endpoint can answer at most C/L calls per second: the limit. The
documents in flight (2C by default) keep more requests queued than there are slots. Every document takes
the shortest path through the self_instruct graph (accepted in round one):

    challenger -> quality verifier -> k weak samples -> k judge calls -> k strong samples -> k judge calls
    -> final quality check

that is CALLS_PER_DOC = 3 + 4k calls, so the limit is C/L calls/s and C/(L * CALLS_PER_DOC) documents/s.
The ideal wall time is calls * L / C; framework overhead is the share of the measured wall time above it
(time the endpoint's slots were idle because the client was busy: graph engine, checkpoints, prompt
rendering, the HTTP client, run-directory writes, plus the last documents draining at the end).

A real server is not exactly L: even though the fake one wakes each answer with sub-millisecond precision
(`FakeOpenAI._answer_after`), HTTP handling and the processes' wake-up latency add ~1 ms on these machines
(~0.4 ms of it at L=0). So the benchmark also times a bare HTTP client (one aiohttp POST after another) on
the same server: that round trip R is the floor any client pays, C/R is the effective limit, and the
overhead is also given against it, as what autodata adds on top of a bare client.

    python benchmarks/throughput.py --concurrency 32 --latency 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import pstats
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autodata.llm.models import ModelProvider  # noqa: E402
from autodata.engine.rundir import RunDirectory  # noqa: E402
from autodata.tasks.runner import GenerateOptions, Generator  # noqa: E402
from autodata.llm.settings import load_settings  # noqa: E402
from autodata.state.schemas import SourceDocument  # noqa: E402
from tests.support.fake_openai import FakeOpenAIProcess, settings_env  # noqa: E402

POSITIVE, NEGATIVE = 7, 3  # the rubric's criteria: enough of each for every policy preset's shape rules
_DOC_NUMBER = re.compile(r"Benchmark document (\d+)\.")
_TOPICS = ["dropout", "weight decay", "batch norm", "early stopping", "mixup", "label smoothing", "ensembles", "pruning"]
# What the quality checks answer, whichever schema asks (the in-loop verifier's four checks, the end filter's
# flags, or a plain pass/fail): the item is fine. Fields a schema does not have are ignored.
APPROVAL = {
    "passed": True, "reasons": [], "leakage": "OK", "question_quality": "GOOD", "rubric": "PASS",
    "rubric_issues": [], "type_matches": True, "feedback": "", "answer_leakage": False,
    "context_too_short": False, "rubric_malformed": False,
}  # fmt: skip
CONTEXT = (
    "Regularisation methods trade variance for bias in different ways; the benchmark compares how two of them "
    "interact when both are applied to the same network under a fixed training budget and data set."
)


def calls_per_document(samples: int) -> int:
    return 3 + 4 * samples


def _question(number: int) -> str:
    """A distinct question per document, so the near-duplicate filter (word 3-gram Jaccard) keeps every one."""
    return f"Why does {_TOPICS[number % len(_TOPICS)]} help in regime {number} of the benchmark?"


def rubric() -> list[dict[str, Any]]:
    positive = [{"criterion": f"explains step {i}", "weight": 1.0, "category": "positive"} for i in range(POSITIVE)]
    negative = [{"criterion": f"claims mistake {i}", "weight": -1.0, "category": "negative"} for i in range(NEGATIVE)]
    return positive + negative


def _all_text(messages: list[Any]) -> str:
    return "\n".join(str(message.content) for message in messages)


def judge_verdicts(text: str) -> dict[str, list[bool]]:
    """The strong solver meets 6 of 7 positive criteria (0.86), the weak one 2 (0.29); nobody makes a mistake:
    accepted under every preset (no zero scores, strong below 0.95, a gap of 0.57)."""
    hits = POSITIVE - 1 if "strong answer:" in text else 2
    return {"verdicts": [i < hits for i in range(POSITIVE)] + [False] * NEGATIVE}


def answer(role: str, messages: list[Any], tool: str | None) -> Any:
    """The fake models' script (runs in the server process): the shortest path to an accepted item."""
    text = _all_text(messages)
    if role == "challenger":
        number = int(_DOC_NUMBER.search(text).group(1))
        return {"context": CONTEXT, "question": _question(number), "reference_answer": "They compete for capacity.",
                "rubric": rubric(), "question_type": "multi-factor interaction",
                "reasoning_skills": ["causal_reasoning", "design_tradeoff"]}
    if role in ("weak", "strong"):
        return f"{role} answer: they compete for capacity."
    if role == "judge":
        return judge_verdicts(text)
    if tool is not None:
        return APPROVAL
    return "Ask about a different interaction."


def document(number: int) -> SourceDocument:
    text = f"Benchmark document {number}. Regularisation methods trade variance for bias in different ways. " * 4
    return SourceDocument(
        doc_id=f"bench-{number}", path=f"bench/{number}.md", title=f"Benchmark {number}", text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(), span=(0, len(text)), total_chars=len(text),
    )  # fmt: skip


def documents(n: int) -> list[SourceDocument]:
    return [document(i) for i in range(n)]


@dataclass
class Result:
    concurrency: int
    latency: float
    samples: int
    documents: int
    documents_in_flight: int
    checkpoints: bool
    wall_seconds: float
    cpu_seconds: float
    accepted: int
    model_calls: int
    docs_per_second: float
    calls_per_second: float
    limit_docs_per_second: float
    limit_calls_per_second: float
    bare_round_trip: float  # seconds: one request from a bare HTTP client, L plus the server's own handling
    client: str = "autodata"  # the roles' chat-model client (`client` setting)

    @property
    def ratio(self) -> float:
        """Achieved share of the endpoint's limit C/L."""
        return self.calls_per_second / self.limit_calls_per_second

    @property
    def cpu_ms_per_call(self) -> float:
        """Client CPU (all threads of this process) per model call: what bounds throughput on one core."""
        return 1000 * self.cpu_seconds / max(1, self.model_calls)

    def _idle_share(self, seconds_per_call: float) -> float:
        """Share of wall time above calls * seconds_per_call / C: the endpoint's slots idle while the client worked."""
        return max(0.0, 1.0 - self.model_calls * seconds_per_call / self.concurrency / self.wall_seconds)

    @property
    def overhead(self) -> float:
        """Share of wall time above the ideal calls * L / C."""
        return self._idle_share(self.latency)

    @property
    def effective_ratio(self) -> float:
        """Achieved share of C / R, the limit with the server's real round trip R."""
        return self.calls_per_second * self.bare_round_trip / self.concurrency

    @property
    def effective_overhead(self) -> float:
        """Share of wall time above calls * R / C: what autodata adds on top of a bare HTTP client."""
        return self._idle_share(self.bare_round_trip)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 4), "overhead": round(self.overhead, 4),
                "effective_ratio": round(self.effective_ratio, 4),
                "effective_overhead": round(self.effective_overhead, 4),
                "cpu_ms_per_call": round(self.cpu_ms_per_call, 3)}


async def bare_round_trip(base_url: str, requests: int = 50) -> float:
    """Seconds per request for a bare aiohttp client, one request after another (the server's floor)."""
    import aiohttp

    body = json.dumps({"model": "weak", "messages": [{"role": "user", "content": "Benchmark document 0."}]})
    async with aiohttp.ClientSession(headers={"content-type": "application/json"}) as session:

        async def one() -> None:
            async with session.post(f"{base_url}/chat/completions", data=body) as response:
                await response.read()

        for _ in range(3):
            await one()
        started = time.perf_counter()
        for _ in range(requests):
            await one()
        return (time.perf_counter() - started) / requests


def fake_server_provider(base_url: str, max_requests: int | None = None, client: str = "autodata",
                         timeout: float = 60.0) -> ModelProvider:  # fmt: skip
    """Every role on the fake server; no retries, so a fault would show instead of hiding in the timing."""
    limit = {"AUTODATA_MAX_CONCURRENT_REQUESTS": str(max_requests)} if max_requests else {}
    env = settings_env(base_url, AUTODATA_MAX_RETRIES="0", AUTODATA_TIMEOUT=str(timeout), AUTODATA_CLIENT=client,
                       **limit)  # fmt: skip
    return ModelProvider(load_settings(env=env))


async def _run_generator(provider: ModelProvider, docs: Iterable[SourceDocument], concurrency: int, samples: int,
                         checkpoints: bool) -> tuple[float, float, Any]:  # fmt: skip
    options = GenerateOptions(task="cs-research", samples=samples, max_rounds=1, concurrency=concurrency, run_id="bench")
    with tempfile.TemporaryDirectory(prefix="autodata-bench-") as tmp:
        generator = Generator(options, provider, RunDirectory(Path(tmp) / "run"), checkpoint=checkpoints)
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = await generator.run(docs)
        return time.perf_counter() - started, time.process_time() - cpu_started, stats


async def _warm_then_measure(provider: ModelProvider, concurrency: int, n_docs: int, samples: int, checkpoints: bool,
                             profiler: cProfile.Profile | None) -> tuple[float, float, Any]:  # fmt: skip
    # One event loop for both: the chat models' HTTP clients belong to the loop that first used them.
    await _run_generator(provider, documents(2), 2, samples, checkpoints)  # imports, schemas, connections
    if profiler:
        profiler.enable()
    try:
        return await _run_generator(provider, documents(n_docs), concurrency, samples, checkpoints)
    finally:
        if profiler:
            profiler.disable()


def default_documents(concurrency: int) -> int:
    """Enough documents that the ramp-up and the drain at the end are a small share of the run."""
    return 16 * concurrency


def measure(server: FakeOpenAIProcess, concurrency: int, latency: float, n_docs: int, samples: int = 4,
            checkpoints: bool = True, profile: Path | None = None, in_flight: int | None = None,
            client: str = "autodata") -> Result:  # fmt: skip
    in_flight = in_flight or 2 * concurrency
    provider = fake_server_provider(server.base_url, max_requests=concurrency, client=client)
    profiler = cProfile.Profile() if profile else None
    round_trip = asyncio.run(bare_round_trip(server.base_url))
    before = server.stats()["requests"]
    run = _warm_then_measure(provider, in_flight, n_docs, samples, checkpoints, profiler)
    wall, cpu, stats = asyncio.run(run)
    calls = server.stats()["requests"] - before - 2 * calls_per_document(samples)
    if profiler:
        profiler.dump_stats(profile)
    limit_calls = concurrency / latency
    return Result(
        concurrency=concurrency, latency=latency, samples=samples, documents=n_docs, documents_in_flight=in_flight,
        checkpoints=checkpoints, wall_seconds=round(wall, 3), cpu_seconds=round(cpu, 3), accepted=stats.accepted,
        model_calls=calls, docs_per_second=round(n_docs / wall, 2), calls_per_second=round(calls / wall, 1),
        limit_docs_per_second=round(limit_calls / calls_per_document(samples), 2), limit_calls_per_second=limit_calls,
        bare_round_trip=round(round_trip, 5), client=client,
    )  # fmt: skip


def describe(result: Result) -> str:
    return (
        f"[{result.client}] C={result.concurrency:<3} L={result.latency * 1000:.0f}ms k={result.samples} "
        f"docs={result.documents} "
        f"({result.documents_in_flight} in flight) checkpoints={'on' if result.checkpoints else 'off'}: "
        f"{result.docs_per_second:.1f} docs/s (limit {result.limit_docs_per_second:.1f}), "
        f"{result.calls_per_second:.0f} calls/s (limit C/L = {result.limit_calls_per_second:.0f}); "
        f"ratio {result.ratio:.3f}, overhead {result.overhead:.1%} "
        f"[vs a bare client's round trip R={result.bare_round_trip * 1000:.1f}ms: ratio {result.effective_ratio:.3f}, "
        f"overhead {result.effective_overhead:.1%}] "
        f"of {result.wall_seconds:.2f}s wall; client CPU {result.cpu_ms_per_call:.2f} ms/call; accepted {result.accepted}/{result.documents}"
    )


def print_profile(path: Path, lines: int = 25) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", "-c", type=int, default=32, help="the endpoint's concurrent requests")
    parser.add_argument("--latency", "-l", type=float, default=0.1, help="seconds per model call")
    parser.add_argument("--documents", "-n", type=int, default=None, help="default: 16 x concurrency")
    parser.add_argument("--in-flight", type=int, default=None, help="documents in flight; default: 2 x concurrency")
    parser.add_argument("--samples", "-k", type=int, default=4)
    parser.add_argument("--no-checkpoints", action="store_true")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed run here and print the top")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--client", choices=["autodata", "langchain-openai"], default="autodata")
    args = parser.parse_args(argv)
    with FakeOpenAIProcess("benchmarks.throughput:answer", latency=args.latency) as server:
        result = measure(server, args.concurrency, args.latency, args.documents or default_documents(args.concurrency),
                         args.samples, not args.no_checkpoints, args.profile, args.in_flight, args.client)  # fmt: skip
    print(json.dumps(result.as_dict()) if args.json else describe(result))
    if args.profile:
        print_profile(args.profile)


if __name__ == "__main__":
    main()

"""What an accepted item costs: tokens per role on real papers and the shipped prompts, priced.

The CS papers of ../shared/corpora go through the real engine against the fake endpoint (a child process),
which counts tokens as words and reports cached prompt tokens the way vLLM's prefix cache finds them (blocks of
16). Its scripted models accept each paper's item in round `--accept-round` (the method's papers average 6-7
rounds): before that the weak solver meets every criterion, so the round ends "too easy". Prompt tokens are
therefore those of the real prompts and documents; completion tokens are the script's short answers, not a
real model's (see README, "What a run costs", for how to read them).

    python benchmarks/cost_per_item.py [--documents 8] [--accept-round 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autodata.engine.corpus import iter_documents  # noqa: E402
from autodata.engine.costs import Prices, run_cost  # noqa: E402
from autodata.engine.rundir import RunDirectory  # noqa: E402
from autodata.tasks.runner import GenerateOptions, Generator  # noqa: E402
from autodata.state.schemas import ROLES, SourceDocument  # noqa: E402
from benchmarks.throughput import (  # noqa: E402
    APPROVAL,
    CONTEXT,
    NEGATIVE,
    POSITIVE,
    fake_server_provider,
    judge_verdicts,
    rubric,
)
from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402

PAPERS = ROOT.parent / "shared" / "corpora" / "cs_papers"
ACCEPT_ROUND_ENV = "AUTODATA_BENCH_ACCEPT_ROUND"
_PAPER = re.compile(r"Benchmark paper (\d+)\.")
_ATTEMPT = re.compile(r"\(attempt (\d+)\)")
_challenger_calls: Counter[int] = Counter()  # per paper, in the server process

# Example prices, USD per million tokens (input, cached input, output): shapes of price lists, not quotes.
EXAMPLE_PRICES = {
    "small hosted model": Prices(input=0.15, cached_input=0.075, output=0.60),
    "large hosted model": Prices(input=2.50, cached_input=1.25, output=10.00),
}


def answer(role: str, messages: list[Any], tool: str | None) -> Any:
    """The fake models' script: each paper's item is accepted in round ACCEPT_ROUND, "too easy" before."""
    text = "\n".join(str(message.content) for message in messages)
    if role == "challenger":
        paper = int(_PAPER.search(text).group(1))
        _challenger_calls[paper] += 1
        attempt = _challenger_calls[paper]
        question = f"How would the method of paper {paper} behave if its key assumption failed (attempt {attempt})?"
        return {"context": CONTEXT, "question": question, "reference_answer": "It degrades gracefully.",
                "rubric": rubric(), "question_type": "failure mode prediction",
                "reasoning_skills": ["causal_reasoning", "design_tradeoff"]}
    if role in ("weak", "strong"):
        return f"{role} answer: it degrades gracefully because the estimator is unbiased."
    if role == "judge":
        attempt = int(_ATTEMPT.search(text).group(1)) if _ATTEMPT.search(text) else 1
        if attempt < int(os.environ.get(ACCEPT_ROUND_ENV, "1")):
            return {"verdicts": [True] * POSITIVE + [False] * NEGATIVE}  # the weak solver too: too easy
        return judge_verdicts(text)
    if tool is not None:
        return APPROVAL
    return "The question was too easy: ask about a failure mode the paper only hints at."


def papers(n: int, max_chars: int) -> list[SourceDocument]:
    docs = [doc for doc in iter_documents(PAPERS, max_chars) if isinstance(doc, SourceDocument)][:n]
    return [doc.model_copy(update={"text": f"Benchmark paper {i}.\n{doc.text}"}) for i, doc in enumerate(docs)]


async def _generate(provider: Any, docs: list[SourceDocument], rounds: int) -> Any:
    options = GenerateOptions(task="cs-research", samples=4, max_rounds=rounds, concurrency=len(docs), run_id="cost")
    with tempfile.TemporaryDirectory(prefix="autodata-cost-") as tmp:
        return await Generator(options, provider, RunDirectory(Path(tmp) / "run")).run(docs)


def measure(n_docs: int = 8, accept_round: int = 6) -> Any:
    os.environ[ACCEPT_ROUND_ENV] = str(accept_round)  # read by the server process's script
    with FakeOpenAIProcess("benchmarks.cost_per_item:answer", prefix_cache_block=16) as server:
        provider = fake_server_provider(server.base_url)
        docs = papers(n_docs, provider.settings.max_source_chars)
        stats = asyncio.run(_generate(provider, docs, accept_round + 1))
    return stats


def report(stats: Any) -> str:
    items = max(1, stats.accepted)
    lines = [
        f"{stats.documents} papers, {stats.accepted} accepted items, {stats.rounds / max(1, stats.documents):.1f} "
        "rounds per paper; per accepted item:",
        f"{'role':<17}{'calls':>7}{'prompt tokens':>15}{'of which cached':>17}{'completion':>12}",
    ]
    for role in ROLES:
        used = stats.usage.get(role)
        if used is None or not used.calls:
            continue
        lines.append(f"{role:<17}{used.calls / items:>7.1f}{used.prompt_tokens / items:>15,.0f}"
                     f"{used.cached_prompt_tokens / items:>17,.0f}{used.completion_tokens / items:>12,.0f}")
    for name, prices in EXAMPLE_PRICES.items():
        cost = run_cost(stats.usage, dict.fromkeys(ROLES, prices), stats.documents, stats.accepted)
        lines.append(f"every role on a {name} (${prices.input}/{prices.cached_input}/{prices.output} per M "
                     f"input/cached/output): ${cost.per_accepted_item:.4f} per accepted item")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", "-n", type=int, default=8)
    parser.add_argument("--accept-round", type=int, default=6)
    args = parser.parse_args(argv)
    print(report(measure(args.documents, args.accept_round)))


if __name__ == "__main__":
    main()

"""Near-duplicate lookup cost per accepted item as a run's kept questions grow: the index against a scan.

The scan (compare with every kept question, what autodata did before the prefix-filtered index) is
quadratic over a run; the index should stay about flat per item. Questions are synthetic: 10-25 words
drawn from a vocabulary with a few very common words, the way real questions share "what is the".

    python benchmarks/dedup.py --sizes 1000 2000 4000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autodata.engine.dedup import DEFAULT_THRESHOLD, NearDuplicateIndex, jaccard, shingles  # noqa: E402


class ScanIndex:
    """The reference: every kept question compared in turn."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, frozenset[str]]] = []

    def add(self, item_id: str, question: str) -> None:
        self.kept.append((item_id, shingles(question)))

    def duplicate_of(self, question: str) -> str | None:
        candidate = shingles(question)
        return next((i for i, kept in self.kept if jaccard(candidate, kept) >= DEFAULT_THRESHOLD), None)


def questions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(3000)] + "what is the of a in how does why".split() * 50
    return [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(10, 25))) + "?" for _ in range(n)]


def ms_per_item(index, items: list[str]) -> float:
    started = time.perf_counter()
    for number, question in enumerate(items):
        if index.duplicate_of(question) is None:
            index.add(str(number), question)
    return 1000 * (time.perf_counter() - started) / len(items)


def measure(sizes: list[int]) -> list[tuple[int, float, float]]:
    """(questions, index ms/item, scan ms/item) per size."""
    results = []
    for n in sizes:
        items = questions(n)
        results.append((n, ms_per_item(NearDuplicateIndex(), items), ms_per_item(ScanIndex(), items)))
    return results


def report(results: list[tuple[int, float, float]]) -> str:
    return "\n".join(
        f"{n:>6} questions: index {indexed:.3f} ms/item, scan {scanned:.3f} ms/item, speed-up {scanned / indexed:.0f}x"
        for n, indexed, scanned in results
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    print(report(measure(parser.parse_args(argv).sizes)))


if __name__ == "__main__":
    main()

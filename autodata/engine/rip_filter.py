"""The RIP filter of CoT-Self-Instruct on rubric tasks (METHOD.md section 6), as a post-pass over a baseline
run directory.

RIP ranks items by the rewards of K answers and drops the bottom quarter. Here the reward model is the task's
judge: each kept item was already answered K times by the strong solver and each answer scored with the
rubric, so an item's RIP score is the lowest of those scores (the method drops by the lowest score; an item
whose best-placed solver still scores low somewhere is ambiguous or broken). The weak scores are not used:
low weak scores are what a hard item is for.

Ranking needs every item's score, so the filter runs once the batch is done, over the whole directory:
- items.jsonl is rewritten (beside it, then renamed over it) with the kept items, each carrying `rip_score`;
- the dropped rows go to rip_dropped.jsonl (the same rows, with `rip_score` and `rip_rank`), written first;
- stats.json gets a `rip_filter` block (items before, dropped, after, the fraction and the score used).
A resumed batch adds items; running the filter again ranks the union of items.jsonl and rip_dropped.jsonl
afresh, so the result does not depend on where an earlier run stopped, and a crash between the two renames
is repaired by the next run. Items without any strong score (judge failures) are not ranked and stay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from autodata.engine.rundir import (
    ITEMS,
    STATS,
    RunDirectory,
    read_json,
    read_jsonl,
    write_json_atomic,
    write_jsonl_atomic,
)

RIP_DROPPED = "rip_dropped.jsonl"
RIP_STATS_KEY = "rip_filter"
DEFAULT_RIP_FRACTION = 0.25
RIP_SCORE = "lowest strong-solver rubric score"  # the judge is the reward model


@dataclass
class RipResult:
    """What one pass of the filter did."""

    fraction: float
    before: int = 0  # items ranked or not, before the filter
    ranked: int = 0  # items with a score
    dropped: list[str] = field(default_factory=list)  # item ids, lowest score first
    threshold: float | None = None  # the highest score among the dropped items

    @property
    def after(self) -> int:
        return self.before - len(self.dropped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction, "score": RIP_SCORE, "before": self.before, "ranked": self.ranked,
            "dropped": len(self.dropped), "after": self.after, "threshold": self.threshold,
            "dropped_ids": self.dropped, "dropped_file": RIP_DROPPED,
        }  # fmt: skip


def rip_score(row: dict[str, Any]) -> float | None:
    scores = [float(s) for s in row.get("strong_scores") or [] if s is not None]
    return min(scores) if scores else None


def _all_items(run_dir: RunDirectory) -> list[dict[str, Any]]:
    """items.jsonl and the rows an earlier pass dropped, each id once (items.jsonl's row wins)."""
    rows: dict[str, dict[str, Any]] = {}
    for row in [*read_jsonl(run_dir.file(ITEMS)), *read_jsonl(run_dir.file(RIP_DROPPED))]:
        rows.setdefault(str(row.get("id")), row)
    clean = ("rip_score", "rip_rank")
    return [{k: v for k, v in row.items() if k not in clean} for row in rows.values()]


def apply_rip_filter(run_dir: RunDirectory, fraction: float = DEFAULT_RIP_FRACTION) -> RipResult:
    """Drop the bottom `fraction` of the run's items by RIP score (rounded down; ties broken by item id)."""
    rows = _all_items(run_dir)
    scored = sorted(
        ((score, str(row.get("id")), row) for row in rows if (score := rip_score(row)) is not None),
        key=lambda entry: (entry[0], entry[1]),
    )
    cut = math.floor(fraction * len(scored) + 1e-9)
    dropped_ids = {item_id for _, item_id, _ in scored[:cut]}
    ranks = {item_id: rank for rank, (_, item_id, _) in enumerate(scored, start=1)}
    dropped = [{**row, "rip_score": score, "rip_rank": ranks[item_id]} for score, item_id, row in scored[:cut]]
    kept = [{**row, "rip_score": rip_score(row)} for row in rows if str(row.get("id")) not in dropped_ids]
    write_jsonl_atomic(run_dir.file(RIP_DROPPED), dropped)
    write_jsonl_atomic(run_dir.file(ITEMS), kept)
    result = RipResult(
        fraction=fraction, before=len(rows), ranked=len(scored), dropped=[row["id"] for row in dropped],
        threshold=dropped[-1]["rip_score"] if dropped else None,
    )  # fmt: skip
    stats = read_json(run_dir.file(STATS))
    write_json_atomic(run_dir.file(STATS), {**stats, RIP_STATS_KEY: result.as_dict()})
    return result

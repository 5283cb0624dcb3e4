"""Rates the items of a finished run (the legal CoT-Self-Instruct baseline) with the legal loop judge.

METHOD.md section 3 compares the agentic legal set with the CoT baseline by the loop judge's
grpo_suitability (high/medium/low 52/43/2% vs 4.8/41/45%). The agentic graph stores that rating on each
item; a baseline item gets it here from the same node and prompt, fed the same diagnostic packet built from
the baseline's own weak/strong samples and judge verdicts. Ratings go to `suitability.json` in the run
directory (written after every item, so an interrupted rating resumes where it stopped); items.jsonl is
never rewritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autodata.engine.rundir import ITEMS, TRAJECTORIES, read_jsonl
from autodata.llm.models import ModelCallFailed, ModelProvider
from autodata.nodes.legal.loop_judge import loop_judge
from autodata.rules.legal_diagnostics import build_packet
from autodata.rules.legal_shape import post_filter_flags
from autodata.state.legal import LegalContext, LegalCriterion, LegalItem, LegalShapeRules, LegalState
from autodata.state.schemas import AttemptScore, SolverAttempt, SourceDocument
from autodata.tasks.legal.report import SUITABILITY_FILE

UNTAGGED = "untagged"  # baseline rubrics carry no capability tags


class SuitabilityError(ValueError):
    pass


@dataclass
class Runtime:
    context: LegalContext


@dataclass
class RatingSummary:
    rated: int = 0
    already_rated: int = 0
    failed: int = 0


def weight_class(weight: float) -> str:
    if weight < 0:
        return "negative"
    return "critical" if weight >= 8 else "important" if weight >= 5 else "minor"


def as_legal_item(item: dict[str, Any]) -> LegalItem:
    rubric = [
        LegalCriterion(criterion=c["criterion"], weight=c["weight"], capability=c.get("capability") or UNTAGGED,
                       weight_class=c.get("weight_class") or weight_class(float(c["weight"])))  # fmt: skip
        for c in item.get("rubric") or []
    ]
    return LegalItem(question=item["question"], rubric=rubric)


def _document(item: dict[str, Any]) -> SourceDocument:
    """Only the id travels into trace metadata; the judge never reads the document."""
    key = item.get("source_hash") or hashlib.sha256(str(item.get("source_doc_id")).encode()).hexdigest()
    return SourceDocument(doc_id=str(item.get("source_doc_id", "")), path=str(item.get("source_path", "")),
                          text="", content_hash=key, span=(0, 0))  # fmt: skip


def rating_state(item: dict[str, Any], trajectory: dict[str, Any]) -> LegalState:
    """The loop judge's input for one finished item: its final round's samples and per-criterion verdicts."""
    final = (trajectory.get("rounds") or [{}])[-1]
    attempts = [SolverAttempt.model_validate(a) for a in final.get("attempts") or []]
    scores = [AttemptScore.model_validate(s) for s in final.get("scores") or []]
    legal_item = as_legal_item(item)
    packet = build_packet(legal_item, attempts, scores, post_filter_flags(legal_item.question, LegalShapeRules()))
    return LegalState(document=_document(item), round=int(final.get("round", 1)), item=legal_item, packet=packet)


def _load_ratings(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")).get("ratings", {}) if path.exists() else {}


def _save_ratings(path: Path, ratings: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ratings": ratings}, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


async def rate_run(run_dir: Path, provider: ModelProvider, prompts_dir: str | None = None) -> RatingSummary:
    """Rate every item of `run_dir` that has no grpo_suitability yet; one loop-judge call per item."""
    if not (run_dir / ITEMS).exists():
        raise SuitabilityError(f"{run_dir} has no {ITEMS}")
    trajectories = {t["id"]: t for t in read_jsonl(run_dir / TRAJECTORIES)}
    target = run_dir / SUITABILITY_FILE
    ratings, summary = _load_ratings(target), RatingSummary()
    runtime = Runtime(LegalContext(prompts_dir=prompts_dir, run_id=run_dir.name))
    for item in read_jsonl(run_dir / ITEMS):
        if item.get("grpo_suitability") or item["id"] in ratings:
            summary.already_rated += 1
            continue
        try:
            update = await loop_judge(rating_state(item, trajectories.get(item["id"], {})), runtime, provider=provider)
        except ModelCallFailed:  # the endpoint failed (after the model layer's retries): asked again next time
            summary.failed += 1
            continue
        if update["judge"] is None:  # malformed after the re-asks
            summary.failed += 1  # not stored: a later run asks again
            continue
        ratings[item["id"]] = update["judge"].model_dump()
        _save_ratings(target, ratings)
        summary.rated += 1
    return summary

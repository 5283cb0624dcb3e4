"""The analyzer's input: an evaluation's trajectories packed into a token budget.

Each round becomes one block holding the item (context, question, reference answer, rubric), the quality
verifier's verdicts, the orchestrator's feedback, and every solver sample: its answer (truncated per sample,
so one long answer cannot crowd out the others), its score and its per-criterion hits (rubric tasks) or its
final answer and correctness (verifiable tasks). Per rubric criterion the block also counts how many weak and
strong samples hit it, which is what the analyzer needs to find leaks, trivial criteria and weight problems.

When the blocks exceed the budget, the least informative rounds go first: infrastructure failures (the model
failed, not the question) and then accepted rounds (they worked). Only after those are gone are failed
rounds dropped, taken from the documents that still show the most rounds, so every document keeps a round as
long as possible. What was dropped is recorded and named in the digest.

A round of a graph whose trajectory rounds are not the self-instruct loop's `RoundRecord` (the legal and
science graphs, a task added later) is shown field by field as its trajectory row holds it, long text
clipped like answers: the analyzer still reads the whole round, and packing works the same way.

Token counts are estimated as characters / 4 (rounded up): no tokenizer is loaded for the analyzer's model,
and the estimate only has to keep the request near its budget, not exactly under a context window.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from autodata.state.schemas import AttemptScore, CandidateItem, RoundOutcome, RoundRecord, SolverAttempt

CHARS_PER_TOKEN = 4
DEFAULT_TOKEN_BUDGET = 12_000
DEFAULT_ANSWER_CHARS = 600
DEFAULT_CONTEXT_CHARS = 2_000
# Drop order: lower tiers go first.
TIER_INFRASTRUCTURE, TIER_ACCEPTED, TIER_FAILED = 0, 1, 2
TIER_REASONS = {TIER_INFRASTRUCTURE: "infrastructure failure", TIER_ACCEPTED: "accepted", TIER_FAILED: "over budget"}


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit].rstrip()} [... {len(text) - limit} more chars]"


@dataclass(frozen=True)
class DigestLimits:
    token_budget: int = DEFAULT_TOKEN_BUDGET
    answer_chars: int = DEFAULT_ANSWER_CHARS
    context_chars: int = DEFAULT_CONTEXT_CHARS


@dataclass(frozen=True)
class DroppedRound:
    doc_id: str
    round: int
    outcome: str
    reason: str


@dataclass
class PackedDigest:
    text: str
    token_budget: int
    rounds_total: int
    dropped: list[DroppedRound] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)

    @property
    def rounds_included(self) -> int:
        return self.rounds_total - len(self.dropped)

    def packing(self) -> dict[str, Any]:
        """What the packing did, for the iteration's record."""
        return {
            "token_budget": self.token_budget, "estimated_tokens": self.tokens, "rounds_total": self.rounds_total,
            "rounds_included": self.rounds_included,
            "dropped": [{"doc_id": d.doc_id, "round": d.round, "outcome": d.outcome, "reason": d.reason}
                        for d in self.dropped],
        }  # fmt: skip


def is_infrastructure_failure(record: RoundRecord) -> bool:
    """The round says nothing about the question: a model call failed (every sample, or the round itself)."""
    if record.outcome == RoundOutcome.MODEL_ERROR:
        return True
    return bool(record.attempts) and all(attempt.error for attempt in record.attempts)


def drop_tier(record: RoundRecord) -> int:
    if is_infrastructure_failure(record):
        return TIER_INFRASTRUCTURE
    return TIER_ACCEPTED if record.outcome == RoundOutcome.ACCEPTED else TIER_FAILED


def _avg(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _indented(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines()) or prefix


def criterion_hit_counts(scores: Sequence[AttemptScore], n_criteria: int, role: str) -> list[tuple[int, int]]:
    """Per criterion: (samples of `role` that hit it, samples of `role` the judge scored)."""
    judged = [s.criteria_hits for s in scores if s.role == role and len(s.criteria_hits) == n_criteria]
    return [(sum(hits[i] for hits in judged), len(judged)) for i in range(n_criteria)]


def _count(hits: tuple[int, int]) -> str:
    return f"{hits[0]}/{hits[1]}" if hits[1] else "not run"


def item_lines(item: CandidateItem, scores: Sequence[AttemptScore], limits: DigestLimits) -> list[str]:
    lines = []
    if item.question_type:
        lines.append(f"  question type: {item.question_type}")
    lines.append("  context:\n" + _indented(clip(item.context, limits.context_chars) or "(none)"))
    lines.append("  question:\n" + _indented(item.question))
    lines.append("  reference answer:\n" + _indented(item.reference_answer))
    if item.rubric:
        weak = criterion_hit_counts(scores, len(item.rubric), "weak")
        strong = criterion_hit_counts(scores, len(item.rubric), "strong")
        lines.append("  rubric (weight | criterion | hits: weak, strong):")
        for index, criterion in enumerate(item.rubric):
            hits = f"weak {_count(weak[index])}, strong {_count(strong[index])}"
            lines.append(f"    c{index + 1} [{criterion.weight:+g}] {criterion.criterion} | {hits}")
    return lines


def quality_lines(record: RoundRecord) -> list[str]:
    lines = []
    for verdict in record.quality:
        reasons = f": {'; '.join(verdict.reasons)}" if verdict.reasons else ""
        lines.append(f"  quality check ({verdict.stage}): {'passed' if verdict.passed else 'FAILED'}{reasons}")
    return lines


def _hits_text(hits: Sequence[bool]) -> str:
    return " ".join(f"c{i + 1}" for i, hit in enumerate(hits) if hit) or "none"


def sample_line(attempt: SolverAttempt, score: AttemptScore | None, limits: DigestLimits) -> str:
    head = f"  {attempt.role} sample {attempt.sample_index}"
    if attempt.error:
        return f"{head}: call failed: {clip(attempt.error, 200)}"
    verdict = []
    if score is not None:
        verdict.append(f"score {_avg(score.score)}")
        if score.correct is not None:
            verdict.append("correct" if score.correct else "wrong")
        if score.criteria_hits:
            verdict.append(f"hits: {_hits_text(score.criteria_hits)}")
        if score.error:
            verdict.append(f"judge error: {clip(score.error, 200)}")
    if attempt.final_answer and attempt.final_answer.strip() != attempt.answer.strip():
        verdict.append(f"final answer: {clip(attempt.final_answer, 200)}")
    return f"{head} ({', '.join(verdict) or 'not scored'}):\n{_indented(clip(attempt.answer, limits.answer_chars))}"


def round_block(doc_id: str, record: RoundRecord, limits: DigestLimits) -> str:
    header = (
        f"[document {doc_id}, round {record.round}] outcome: {record.outcome.value} "
        f"(weak avg {_avg(record.weak_avg)}, strong avg {_avg(record.strong_avg)})"
    )
    lines = [header]
    if record.item is not None:
        lines.extend(item_lines(record.item, record.scores, limits))
    else:
        lines.append("  (the challenger produced no item)")
    lines.extend(quality_lines(record))
    scores = {(s.role, s.sample_index): s for s in record.scores}
    lines.extend(sample_line(a, scores.get((a.role, a.sample_index)), limits) for a in record.attempts)
    if record.feedback is not None:
        details = "; ".join(record.feedback.details)
        lines.append(f"  feedback: {record.feedback.category.value}: {details}")
        if record.feedback.advice:
            lines.append(f"  orchestrator advice: {clip(record.feedback.advice, limits.answer_chars)}")
    if record.error:
        lines.append(f"  error: {clip(record.error, 300)}")
    return "\n".join(lines)


@dataclass
class _Block:
    doc_id: str
    round: int
    outcome: str
    text: str
    tier: int
    order: int


def _clipped(value: Any, limits: DigestLimits) -> Any:
    if isinstance(value, str):
        return clip(value, limits.answer_chars)
    if isinstance(value, dict):
        return {key: _clipped(item, limits) for key, item in value.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        return [_clipped(item, limits) for item in value]
    return value


def generic_round_block(doc_id: str, raw: dict[str, Any], limits: DigestLimits) -> str:
    """Any graph's round as its trajectory row holds it: one line per non-empty field, long text clipped."""
    lines = [f"[document {doc_id}, round {raw.get('round', '?')}] outcome: {raw.get('outcome', '?')}"]
    for key, value in _clipped(raw, limits).items():
        if key not in ("round", "outcome"):
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)


def generic_drop_tier(raw: dict[str, Any]) -> int:
    outcome = raw.get("outcome")
    if outcome == RoundOutcome.MODEL_ERROR.value:
        return TIER_INFRASTRUCTURE
    return TIER_ACCEPTED if outcome == RoundOutcome.ACCEPTED.value else TIER_FAILED


def round_to_block(doc_id: str, raw: dict[str, Any], limits: DigestLimits, order: int) -> _Block:
    try:
        record = RoundRecord.model_validate(raw)
    except ValidationError:  # another graph's round
        text, tier = generic_round_block(doc_id, raw, limits), generic_drop_tier(raw)
        return _Block(doc_id, int(raw.get("round") or 0), str(raw.get("outcome", "?")), text, tier, order)
    text = round_block(doc_id, record, limits)
    return _Block(doc_id, record.round, record.outcome.value, text, drop_tier(record), order)


def latest_per_document(trajectories: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One trajectory per document, the last written (an evaluation re-run after a crash may repeat one)."""
    latest = {row["doc_id"]: row for row in trajectories}
    return list(latest.values())


def _blocks(trajectories: Sequence[dict[str, Any]], limits: DigestLimits) -> list[_Block]:
    blocks: list[_Block] = []
    for row in trajectories:
        for raw in row.get("rounds", []):
            blocks.append(round_to_block(row["doc_id"], raw, limits, len(blocks)))
    return blocks


def _next_to_drop(kept: list[_Block]) -> _Block:
    """Lowest tier first; within a tier, from the document showing the most rounds, its latest round."""
    per_doc = Counter(block.doc_id for block in kept)
    return min(kept, key=lambda b: (b.tier, -per_doc[b.doc_id], -b.round, -b.order))


def _summary_line(dropped: Sequence[DroppedRound]) -> str:
    reasons = Counter(d.reason for d in dropped)
    listed = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    return f"({len(dropped)} round(s) left out to fit the token budget: {listed})"


def _document_header(row: dict[str, Any]) -> str:
    return f"== document {row['doc_id']}: {row.get('status', '?')} after {len(row.get('rounds', []))} round(s) =="


def _render(trajectories: Sequence[dict[str, Any]], kept: list[_Block], dropped: list[DroppedRound]) -> str:
    by_doc: dict[str, list[str]] = {}
    for block in sorted(kept, key=lambda b: b.order):
        by_doc.setdefault(block.doc_id, []).append(block.text)
    parts = []
    for row in trajectories:
        parts.append(_document_header(row))
        parts.extend(by_doc.get(row["doc_id"], []))
    if dropped:
        parts.append(_summary_line(dropped))
    return "\n\n".join(parts)


def pack_trajectories(trajectories: Iterable[dict[str, Any]], limits: DigestLimits = DigestLimits()) -> PackedDigest:
    """The analyzer's view of `trajectories` (trajectories.jsonl rows), within `limits.token_budget`."""
    rows = latest_per_document(trajectories)
    blocks = _blocks(rows, limits)
    outcomes = Counter(block.outcome for block in blocks)
    kept, dropped = list(blocks), []
    text = _render(rows, kept, dropped)
    while kept and estimate_tokens(text) > limits.token_budget:
        victim = _next_to_drop(kept)
        kept.remove(victim)
        dropped.append(DroppedRound(victim.doc_id, victim.round, victim.outcome, TIER_REASONS[victim.tier]))
        text = _render(rows, kept, dropped)
    return PackedDigest(text=text, token_budget=limits.token_budget, rounds_total=len(blocks), dropped=dropped,
                        outcomes=outcomes)  # fmt: skip

"""The analyzer's input: an evaluation's whole trajectories, fitted into a token budget by condensing rounds,
never by leaving rounds out.

Each round is shown in full first: the item (context, question, reference answer, rubric), the quality
verifier's verdicts, the orchestrator's feedback, and every solver sample whole: its answer, its score and its
per-criterion hits (rubric tasks) or its final answer and correctness (verifiable tasks). Per rubric criterion
the block also counts how many weak and strong samples hit it, which is what the analyzer needs to find leaks,
trivial criteria and weight problems.

When the full rounds exceed the budget, rounds are condensed one at a time, the least informative first
(infrastructure failures, where the model failed and not the question; then accepted rounds; then failed
ones), taken from the document that still shows the most full rounds, its earliest round first:
1. to the round's summary: the item, the verdicts, each sample's score and hits without its answer text, and
   the orchestrator's own account of the round (its feedback and advice);
2. once every round is a summary and it still does not fit, to one line per round under its document
   (outcome, averages, the question's opening, the feedback's category).
Every round stays in the digest; what was condensed, and how far, is recorded and named in the digest.

A round of a graph whose trajectory rounds are not the self-instruct loop's `RoundRecord` (the legal and
science graphs, a task added later) is shown field by field as its trajectory row holds it; its summary
clips long text, and its line gives the outcome and the first text field. Packing works the same way.

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
SUMMARY_TEXT_CHARS = 300  # long text in a condensed round (reference answer, advice, a generic field)
LINE_QUESTION_CHARS = 160
# Condensing order: lower tiers go first.
TIER_INFRASTRUCTURE, TIER_ACCEPTED, TIER_FAILED = 0, 1, 2
TIER_REASONS = {TIER_INFRASTRUCTURE: "infrastructure failure", TIER_ACCEPTED: "accepted", TIER_FAILED: "over budget"}
FULL, SUMMARY, LINE = "full", "summary", "line"


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def clip(text: str, limit: int | None) -> str:
    text = text.strip()
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} [... {len(text) - limit} more chars]"


@dataclass(frozen=True)
class DigestLimits:
    token_budget: int = DEFAULT_TOKEN_BUDGET
    answer_chars: int | None = None  # None: every answer whole (condensing, not clipping, fits the budget)
    context_chars: int | None = None


@dataclass(frozen=True)
class CondensedRound:
    doc_id: str
    round: int
    outcome: str
    level: str  # summary or line
    reason: str  # the tier it was condensed from: infrastructure failure, accepted, over budget


@dataclass
class PackedDigest:
    text: str
    token_budget: int
    rounds_total: int
    condensed: list[CondensedRound] = field(default_factory=list)  # each round once, at its final level
    outcomes: Counter = field(default_factory=Counter)

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)

    @property
    def rounds_included(self) -> int:
        return self.rounds_total  # condensed, never left out

    def condensed_to(self, level: str) -> int:
        return sum(1 for c in self.condensed if c.level == level)

    def packing(self) -> dict[str, Any]:
        """What the packing did, for the iteration's record."""
        return {
            "token_budget": self.token_budget, "estimated_tokens": self.tokens, "rounds_total": self.rounds_total,
            "rounds_included": self.rounds_included, "rounds_full": self.rounds_total - len(self.condensed),
            "rounds_summarised": self.condensed_to(SUMMARY), "rounds_as_lines": self.condensed_to(LINE),
            "condensed": [{"doc_id": c.doc_id, "round": c.round, "outcome": c.outcome, "level": c.level,
                           "reason": c.reason} for c in self.condensed],
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


def sample_line(attempt: SolverAttempt, score: AttemptScore | None, limits: DigestLimits, answer: bool = True) -> str:
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
    if not answer:
        return f"{head} ({', '.join(verdict) or 'not scored'})"
    return f"{head} ({', '.join(verdict) or 'not scored'}):\n{_indented(clip(attempt.answer, limits.answer_chars))}"


def _round_header(doc_id: str, record: RoundRecord) -> str:
    return (
        f"[document {doc_id}, round {record.round}] outcome: {record.outcome.value} "
        f"(weak avg {_avg(record.weak_avg)}, strong avg {_avg(record.strong_avg)})"
    )


def round_block(doc_id: str, record: RoundRecord, limits: DigestLimits, level: str = FULL) -> str:
    """The round at `level`: full (every answer whole), or its summary (no answer text, long text clipped)."""
    if level == SUMMARY:
        limits = DigestLimits(limits.token_budget, SUMMARY_TEXT_CHARS, SUMMARY_TEXT_CHARS)
    lines = [_round_header(doc_id, record) + (" [summary: answers left out]" if level == SUMMARY else "")]
    if record.item is not None:
        lines.extend(item_lines(record.item, record.scores, limits))
    else:
        lines.append("  (the challenger produced no item)")
    lines.extend(quality_lines(record))
    scores = {(s.role, s.sample_index): s for s in record.scores}
    lines.extend(sample_line(a, scores.get((a.role, a.sample_index)), limits, answer=level == FULL)
                 for a in record.attempts)  # fmt: skip
    if record.feedback is not None:
        details = "; ".join(record.feedback.details)
        lines.append(f"  feedback: {record.feedback.category.value}: {details}")
        if record.feedback.advice:
            lines.append(f"  orchestrator advice: {clip(record.feedback.advice, limits.answer_chars)}")
    if record.error:
        lines.append(f"  error: {clip(record.error, 300)}")
    return "\n".join(lines)


def round_line(doc_id: str, record: RoundRecord) -> str:
    """The round in one line: outcome, averages, the question's opening and the feedback's category."""
    question = clip(record.item.question, LINE_QUESTION_CHARS) if record.item else "(no item)"
    feedback = f"; feedback: {record.feedback.category.value}" if record.feedback else ""
    return f"  round {record.round}: {record.outcome.value} (weak {_avg(record.weak_avg)}, strong " \
           f"{_avg(record.strong_avg)}) {question}{feedback}"


@dataclass
class _Block:
    doc_id: str
    round: int
    outcome: str
    texts: dict[str, str]  # level -> rendering
    tier: int
    order: int
    level: str = FULL

    @property
    def text(self) -> str:
        return self.texts[self.level]


def _clipped(value: Any, limits: DigestLimits) -> Any:
    if isinstance(value, str):
        return clip(value, limits.answer_chars)
    if isinstance(value, dict):
        return {key: _clipped(item, limits) for key, item in value.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        return [_clipped(item, limits) for item in value]
    return value


def generic_round_block(doc_id: str, raw: dict[str, Any], limits: DigestLimits, level: str = FULL) -> str:
    """Any graph's round as its trajectory row holds it: one line per non-empty field (its summary: long text
    clipped)."""
    if level == SUMMARY:
        limits = DigestLimits(limits.token_budget, SUMMARY_TEXT_CHARS, SUMMARY_TEXT_CHARS)
    note = " [summary: long text clipped]" if level == SUMMARY else ""
    lines = [f"[document {doc_id}, round {raw.get('round', '?')}] outcome: {raw.get('outcome', '?')}{note}"]
    for key, value in _clipped(raw, limits).items():
        if key not in ("round", "outcome"):
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)


def generic_round_line(raw: dict[str, Any]) -> str:
    first_text = next((v for k, v in raw.items() if isinstance(v, str) and k not in ("outcome",) and v.strip()), "")
    return f"  round {raw.get('round', '?')}: {raw.get('outcome', '?')} {clip(first_text, LINE_QUESTION_CHARS)}"


def generic_drop_tier(raw: dict[str, Any]) -> int:
    outcome = raw.get("outcome")
    if outcome == RoundOutcome.MODEL_ERROR.value:
        return TIER_INFRASTRUCTURE
    return TIER_ACCEPTED if outcome == RoundOutcome.ACCEPTED.value else TIER_FAILED


def round_to_block(doc_id: str, raw: dict[str, Any], limits: DigestLimits, order: int) -> _Block:
    try:
        record = RoundRecord.model_validate(raw)
    except ValidationError:  # another graph's round
        texts = {level: generic_round_block(doc_id, raw, limits, level) for level in (FULL, SUMMARY)}
        texts[LINE] = generic_round_line(raw)
        return _Block(doc_id, int(raw.get("round") or 0), str(raw.get("outcome", "?")), texts, generic_drop_tier(raw),
                      order)  # fmt: skip
    texts = {level: round_block(doc_id, record, limits, level) for level in (FULL, SUMMARY)}
    texts[LINE] = round_line(doc_id, record)
    return _Block(doc_id, record.round, record.outcome.value, texts, drop_tier(record), order)


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


def _next_to_condense(blocks: list[_Block], level: str) -> _Block | None:
    """Among the blocks still at `level`: lowest tier first; within a tier, from the document showing the most
    rounds at that level, its earliest round."""
    candidates = [block for block in blocks if block.level == level]
    if not candidates:
        return None
    per_doc = Counter(block.doc_id for block in candidates)
    return min(candidates, key=lambda b: (b.tier, -per_doc[b.doc_id], b.round, b.order))


def _summary_line(blocks: Sequence[_Block]) -> str:
    summarised = sum(1 for b in blocks if b.level == SUMMARY)
    lines = sum(1 for b in blocks if b.level == LINE)
    parts = [f"{summarised} to their summary (no answer text)"] if summarised else []
    parts += [f"{lines} to one line each"] if lines else []
    return f"(all {len(blocks)} rounds are shown; to fit the token budget {' and '.join(parts)} were condensed)"


def _document_header(row: dict[str, Any]) -> str:
    return f"== document {row['doc_id']}: {row.get('status', '?')} after {len(row.get('rounds', []))} round(s) =="


def _render(trajectories: Sequence[dict[str, Any]], blocks: list[_Block]) -> str:
    by_doc: dict[str, list[str]] = {}
    for block in sorted(blocks, key=lambda b: b.order):
        by_doc.setdefault(block.doc_id, []).append(block.text)
    parts = []
    for row in trajectories:
        lines = by_doc.get(row["doc_id"], [])
        parts.append(_document_header(row))
        parts.extend(lines)
    if any(block.level != FULL for block in blocks):
        parts.append(_summary_line(blocks))
    return "\n\n".join(parts)


def pack_trajectories(trajectories: Iterable[dict[str, Any]], limits: DigestLimits = DigestLimits()) -> PackedDigest:
    """The analyzer's view of `trajectories` (trajectories.jsonl rows), condensed round by round until it fits
    `limits.token_budget` (every round stays; at worst each is one line)."""
    rows = latest_per_document(trajectories)
    blocks = _blocks(rows, limits)
    outcomes = Counter(block.outcome for block in blocks)
    text = _render(rows, blocks)
    for current, condensed in ((FULL, SUMMARY), (SUMMARY, LINE)):
        while estimate_tokens(text) > limits.token_budget:
            block = _next_to_condense(blocks, current)
            if block is None:
                break
            block.level = condensed
            text = _render(rows, blocks)
    condensed_rounds = [
        CondensedRound(b.doc_id, b.round, b.outcome, b.level, TIER_REASONS[b.tier])
        for b in sorted(blocks, key=lambda b: b.order) if b.level != FULL
    ]  # fmt: skip
    return PackedDigest(text=text, token_budget=limits.token_budget, rounds_total=len(blocks),
                        condensed=condensed_rounds, outcomes=outcomes)  # fmt: skip

"""Diagnosis (orchestrator): after a round with no accepted candidate it reads the samples — weak samples that
succeeded (what made the question easy), strong samples that failed (where careful reasoning broke) — and
writes one instruction that the next round's challengers receive verbatim. If the reply is empty or unusable,
the facts the code knows go out instead, so the next round is never blind; an endpoint failure stops the
document (resumed on the next run). Closes the round's record.

When a reviewer rejected the round's winner (nodes/science/review.py), the prompt shows the reviewer's reason,
and the instruction carries it to the next round's challengers whatever the reply says."""

from __future__ import annotations

from typing import Any

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.science.common import close_round, science_context, science_metadata
from autodata.state.schemas import RoundOutcome
from autodata.state.science import ScienceState

MAX_DIAGNOSIS_CHARS = 2000
MAX_REPLY_EXCERPT = 600


def _evaluated(state: ScienceState) -> list[dict[str, Any]]:
    """Per evaluated candidate, in order: a `candidate` entry (the item and its counts), then one `sample` entry
    per sample with its verdict (replies shortened). Flat, because the prompt sandbox allows no nested loop."""
    by_index = {c.index: c for c in state.screened}
    checks = {(c.candidate, c.role, c.sample_index): c for c in state.round_checks()}
    entries: list[dict[str, Any]] = []
    for result in state.results:
        entries.append({"kind": "candidate", "candidate": by_index[result.candidate], "result": result})
        for attempt in sorted(state.round_attempts(result.candidate), key=lambda a: (a.role, a.sample_index)):
            check = checks.get((attempt.candidate, attempt.role, attempt.sample_index))
            entries.append({
                "kind": "sample", "role": attempt.role, "final_answer": attempt.final_answer or "(none)",
                "verdict": "not scored" if check is None or check.correct is None
                else ("correct" if check.correct else "wrong"),
                "reply": attempt.answer[-MAX_REPLY_EXCERPT:],
            })  # fmt: skip
    return entries


def _rejected(state: ScienceState) -> list[dict[str, str]]:
    """Candidates not evaluated, each with its question (if any) and why."""
    return [
        {"number": str(c.index + 1), "question": c.item.question if c.item else "",
         "why": "; ".join(c.reasons or [c.error or c.status])}
        for c in state.screened if c.status != "selected"
    ]  # fmt: skip


def reviewer_rejection(state: ScienceState) -> dict[str, str] | None:
    """The candidate a reviewer rejected this round (its counts passed) and the reviewer's reason, if any."""
    review, rejected = state.round_review(), state.reviewed
    if review is None or review.decision != "reject" or rejected is None:
        return None
    question = rejected.item.question if rejected.item else ""
    return {"number": str(rejected.index + 1), "question": question, "reason": review.reason}


def _with_reviewer_reason(diagnosis: str, rejection: dict[str, str] | None) -> str:
    """The instruction, ending with the reviewer's reason: it must reach the challengers even if the reply
    leaves it out."""
    if rejection is None:
        return diagnosis
    reason = rejection["reason"]
    return f"{diagnosis}\nA reviewer rejected the previous round's best problem (do not repeat its flaw): {reason}"


def _facts(state: ScienceState) -> str:
    """What the code knows, used when the orchestrator call fails."""
    parts = [
        f"Candidate {r.candidate + 1}: {r.outcome.value} (weak {r.weak_correct}/{r.weak_samples} correct, "
        f"strong {r.strong_correct}/{r.strong_samples} correct)"
        for r in state.results
    ]
    parts += [f"Candidate {c.index + 1} rejected: {'; '.join(c.reasons)}" for c in state.screened if c.reasons]
    return ". ".join(parts) or "No candidate could be evaluated."


async def diagnose(state: ScienceState, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = science_context(runtime)
    outcome = state.outcome or RoundOutcome.MODEL_ERROR
    rejection = reviewer_rejection(state)
    messages = prompt_library(ctx.prompts_dir).messages(
        "diagnosis_science",
        document=state.document,
        evaluated=_evaluated(state),
        rejected=_rejected(state),
        reviewer_rejection=rejection,
    )
    result = await provider.text(
        "orchestrator", messages, metadata=science_metadata(state, ctx, stage="diagnosis")
    )
    result.raise_if_endpoint_failed()  # retried on the next run from the checkpoint before the diagnosis
    reply = (result.value or "").strip() if result.ok else ""
    diagnosis = _with_reviewer_reason(reply[:MAX_DIAGNOSIS_CHARS] or _facts(state), rejection)
    update: dict[str, Any] = {
        "diagnoses": [diagnosis],
        "rounds": [close_round(state, outcome, results=state.results, diagnosis=diagnosis)],
        **usage_update("orchestrator", result.usage),
    }
    if state.round >= ctx.max_rounds:
        update["status"] = "exhausted"
    return update

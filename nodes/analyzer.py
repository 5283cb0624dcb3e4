"""Analyzer: a model reads the minibatch trajectories and writes a root-cause analysis of the failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from autodata.models import current_provider
from autodata.nodes._common import prompt_library
from autodata.nodes.meta_common import add_usage, meta_context, meta_role
from autodata.prompt_versions import editable_names
from autodata.rundir import RunDirectory
from autodata.state.meta_state import IterationState
from autodata.state.schemas import RoundRecord
from autodata.tasks import task_spec

MAX_DIGEST_CHARS = 6000
MAX_QUESTION_CHARS = 240


def _avg(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def round_line(record: RoundRecord) -> str:
    question = (record.item.question if record.item else "(no item)").replace("\n", " ")[:MAX_QUESTION_CHARS]
    line = f"  round {record.round}: {record.outcome.value} (weak {_avg(record.weak_avg)}, strong {_avg(record.strong_avg)})"
    line += f" question: {question}"
    notes = list(record.feedback.details) if record.feedback else []
    if record.error and record.error not in notes:
        notes.append(record.error)
    return line + (f" | notes: {'; '.join(notes)}" if notes else "")


def latest_per_document(trajectories: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One trajectory per document, the last written (an evaluation re-run after a crash may repeat one)."""
    latest = {row["doc_id"]: row for row in trajectories}
    return list(latest.values())


def failure_digest(trajectories: list[dict[str, Any]]) -> tuple[str, Counter]:
    """A bounded text digest of the trajectories, and the count of round outcomes."""
    lines: list[str] = []
    outcomes: Counter = Counter()
    for row in trajectories:
        rounds = [RoundRecord.model_validate(r) for r in row.get("rounds", [])]
        outcomes.update(r.outcome.value for r in rounds)
        lines.append(f"document {row['doc_id']}: {row['status']} after {len(rounds)} round(s)")
        lines.extend(round_line(r) for r in rounds)
    digest = "\n".join(lines)
    if len(digest) > MAX_DIGEST_CHARS:
        digest = digest[:MAX_DIGEST_CHARS] + "\n... (digest truncated)"
    return digest, outcomes


async def analyze(state: IterationState, runtime: Any) -> dict[str, Any]:
    ctx = meta_context(runtime)
    batch = state.minibatch
    trajectories = latest_per_document(RunDirectory(batch.run_dir).trajectories())
    digest, outcomes = failure_digest(trajectories)
    messages = prompt_library(None).messages(
        "analyzer",
        task=ctx.task,
        family=task_spec(ctx.task).family.value,
        documents=batch.documents,
        accepted=batch.accepted,
        outcome_counts=", ".join(f"{name} {count}" for name, count in outcomes.most_common()) or "none",
        digest=digest or "(no trajectories were recorded)",
        editable=[f"{name}.md" for name in editable_names(ctx.task)],
    )
    provider = current_provider()
    role = meta_role(provider, "analyzer")
    result = await provider.text(role, messages, metadata={"meta_role": "analyzer", "iteration": state.iteration})
    usage = add_usage(state.usage, "analyzer", result.usage)
    analysis = (result.value or "").strip()
    if not result.ok or not analysis:
        return {"usage": usage, "error": f"analyzer: {result.error or 'empty analysis'}"}
    return {"usage": usage, "analysis": analysis}

"""Science challenger: one of the round's parallel drafts, written under its own strategy and checked in code
for the format rules (one question, one-sentence answer, no bare integer or precision-sensitive decimal)."""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.shared.common import prompt_library, usage_update
from autodata.nodes.science.common import STRATEGIES, science_context
from autodata.rules.science_format import science_format_check
from autodata.state.schemas import CandidateItem
from autodata.state.science_outputs import ScienceItemDraft
from autodata.state.science import ChallengeTask, ScienceCandidate, ScienceState


def challenger_sends(state: ScienceState, runtime: Any) -> list[Send]:
    """Fan out the round's challengers, each with its own strategy and the same grounding and diagnosis."""
    ctx = science_context(runtime)
    earlier = [c.item.question for c in state.candidates if c.round < state.round and c.item is not None]
    return [
        Send("challenger", ChallengeTask(
            round=state.round, index=i, strategy=STRATEGIES[i % len(STRATEGIES)], document=state.document,
            grounding=state.grounding, diagnoses=state.diagnoses, earlier_questions=earlier,
        ))  # fmt: skip
        for i in range(ctx.candidates)
    ]


async def science_challenger(task: ChallengeTask, runtime: Any, *, provider: ModelProvider) -> dict[str, Any]:
    ctx = science_context(runtime)
    messages = prompt_library(ctx.prompts_dir).messages(
        "challenger_science",
        document=task.document,
        grounding=task.grounding,
        strategy=task.strategy,
        diagnosis=task.diagnoses[-1] if task.diagnoses else "",  # the last round's, verbatim
        earlier_questions=task.earlier_questions,
        round=task.round,
        max_rounds=ctx.max_rounds,
    )
    metadata = {"task": ctx.task, "document_id": task.document.doc_id, "round": task.round, "candidate": task.index}
    result = await provider.structured("challenger", ScienceItemDraft, messages, metadata=metadata)
    result.raise_if_endpoint_failed()  # retried on the next run; malformed output is this candidate's verdict
    candidate = ScienceCandidate(round=task.round, index=task.index, strategy=task.strategy)
    if not result.ok:
        candidate.status, candidate.error = "challenger_failed", f"challenger: {result.error}"
        return {"candidates": [candidate], **usage_update("challenger", result.usage)}
    draft: ScienceItemDraft = result.value
    skills = [s.strip() for s in draft.reasoning_skills if s.strip()]
    item = CandidateItem(
        context=draft.context, question=draft.question, reference_answer=draft.reference_answer,
        question_type=draft.question_type.strip(), reasoning_skills=skills,
    )
    problems, flags = science_format_check(item, ctx.policy, ctx.allow_numeric_answers)
    candidate = candidate.model_copy(update={
        "item": item, "question_type": draft.question_type.strip(),
        "reasoning_skills": skills, "format_flags": flags,
        "status": "format_rejected" if problems else "selected", "reasons": problems,
    })  # fmt: skip
    return {"candidates": [candidate], **usage_update("challenger", result.usage)}

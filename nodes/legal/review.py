"""The legal loop's review step (nodes/shared/review.py has the rules every graph's review shares).

Between the loop judge and the decision: where the round would be accepted (`round_outcome` says "accepted": the
loop judge's accept and every code check), and the run's context sets `review`, the thread pauses for a person.
The decision node applies what they decided, so it stays the one place that closes rounds and sets the status:
approve, or an edit of the question alone, keeps the (edited) item; reject closes the round as a failed one whose
reason is the reviewer's, for the writer's next round; an edited rubric invalidates the round's scores, so the
round closes as `review_edit` and `edited_round` starts the next round with the edited item (no writer call),
checked, solved, graded and judged like any other, and not paused a second time.
"""

from __future__ import annotations

from typing import Any

from autodata.nodes.legal.common import legal_context, new_round
from autodata.nodes.legal.decide import round_outcome
from autodata.nodes.shared.review import Reviewed, ask_reviewer, rescoring_an_edit, review_enabled, review_payload
from autodata.rules.legal_shape import acceptance_evidence, rubric_shape_violations
from autodata.state.legal import LegalContext, LegalItem, LegalState

EDITABLE = ("question", "rubric")  # a legal item has no context and no reference answer


def _fixed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _samples(state: LegalState, role: str) -> list[dict[str, Any]]:
    scores = {score.sample_index: score.score for score in state.scores_for(role)}
    return [{"answer": a.answer, "score": scores.get(a.sample_index)} for a in state.attempts_for(role)]


def _verdicts(state: LegalState, ctx: LegalContext) -> list[dict[str, Any]]:
    """The loop judge's verdict, then every code check the round passed."""
    judge = state.judge
    verdicts: list[dict[str, Any]] = []
    if judge is not None:
        verdicts.append({"stage": "loop_judge", "passed": judge.verdict == "accept", "verdict": judge.verdict,
                         "reason": judge.verdict_reason, "grpo_suitability": judge.grpo_suitability,
                         "rubric_concerns": judge.rubric_concerns})  # fmt: skip
    verdicts.append({"stage": "shape", "rule": "rubric_shape", "passed": True,
                     "detail": "the rubric keeps this run's shape rules"})  # fmt: skip
    verdicts.append({"stage": "post_filter", "rule": "post_filter", "passed": True,
                     "detail": "no post-filter flag (length, case recap, exam prompt, old year)"})  # fmt: skip
    if state.packet is not None:
        verdicts += [{"stage": "acceptance", "rule": rule, "passed": True, "detail": detail}
                     for rule, detail in acceptance_evidence(state.packet, ctx.acceptance)]  # fmt: skip
    return verdicts


def _passed_by(state: LegalState, ctx: LegalContext) -> str:
    packet, checks = state.packet, ctx.acceptance
    suitability = state.judge.grpo_suitability if state.judge is not None else "n/a"
    spread = f", the weak scores spread (std {_fixed(packet.weak_std)})" if checks.weak_spread else ""
    return (f"the loop judge accepted it (GRPO suitability {suitability}) and the code checks held: strong average "
            f"{_fixed(packet.strong_avg)} >= floor {checks.strong_min_avg:.2f}, gap {_fixed(packet.gap)} >= "
            f"{checks.min_gap:.2f}{spread}, the method's rubric shape, no post-filter flag")  # fmt: skip


def legal_payload(state: LegalState, ctx: LegalContext) -> dict[str, Any]:
    """Everything a reviewer sees of this round's item (the shared keys, then the legal loop's own numbers)."""
    item, packet = state.item, state.packet
    return review_payload(
        document=state.document.doc_id, round_=state.round, question=item.question,
        rubric=[criterion.model_dump(mode="json") for criterion in item.rubric],
        weak=_samples(state, "weak"), strong=_samples(state, "strong"), verdicts=_verdicts(state, ctx),
        policy={"acceptance": ctx.acceptance.model_dump(mode="json"), "shape": ctx.shape.model_dump(mode="json")},
        passed_by=_passed_by(state, ctx),
        weak_avg=packet.weak_avg, strong_avg=packet.strong_avg, gap=packet.gap, weak_std=packet.weak_std,
        target_capabilities=item.target_capabilities.model_dump(mode="json"),
    )  # fmt: skip


def applied(reviewed: Reviewed) -> dict[str, Any]:
    """The state update a decision makes; `decide` reads the record and closes the round accordingly."""
    update: dict[str, Any] = {"reviews": [reviewed.record]}
    if reviewed.rejected:
        return update
    if reviewed.needs_rescore:
        return {**update, "edited_item": reviewed.item}  # this round keeps the item its scores describe
    return {**update, "item": reviewed.item}


def awaits_review(state: LegalState, ctx: LegalContext) -> bool:
    """Whether this round is one a person decides on: it would be accepted, and it is not the re-scoring of an
    item the reviewer already edited."""
    if state.item is None or state.packet is None or rescoring_an_edit(state.reviews, state.round):
        return False
    return round_outcome(state, ctx)[0] == "accepted"


async def review(state: LegalState, runtime: Any) -> dict[str, Any]:
    """Pause for a reviewer's decision (when the run asked for review) where the round would be accepted. The
    node runs again from its start when the thread is resumed: nothing before the pause has side effects."""
    if not review_enabled(runtime):
        return {}
    ctx = legal_context(runtime)
    if not awaits_review(state, ctx):
        return {}
    return applied(ask_reviewer(legal_payload(state, ctx), state.item, EDITABLE, state.round))


async def edited_round(state: LegalState, runtime: Any) -> dict[str, Any]:
    """Start the next round with the reviewer's edited item instead of a writer call; its rubric is checked
    against the shape rules in code, as a writer's is."""
    ctx = legal_context(runtime)
    item: LegalItem = state.edited_item
    return {**new_round(state.round + 1, item, rubric_shape_violations(item, ctx.shape)), "edited_item": None}

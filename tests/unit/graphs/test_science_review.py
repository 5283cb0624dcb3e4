"""A person in the loop of the science graph, driven by scripted chat models: the thread pauses (interrupt) on
the candidate the exact counts would keep, and the reviewer's approve, edit or reject carries it on. Which
models a resumed thread calls, and with what, is read from the scripted models' calls."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from autodata.graphs.science import build_science, recursion_limit
from autodata.state.schemas import RoundOutcome
from autodata.state.science import ScienceContext, ScienceState
from tests.support.science_script import ScienceScript, make_problem
from tests.support.scripted import scripted_provider

FORCES = ("lorentz", "coriolis", "gravity")
EXPECTED_KEYS = {
    "document", "round", "question", "context", "reference_answer", "rubric", "weak", "strong", "verdicts",
    "policy", "passed_by", "editable", "answer_with", "question_type", "reasoning_skills",
}  # fmt: skip


def same_force(answer: str, reference: str) -> bool:
    """The scripted judge: two answers agree when they name the same force."""

    def force(text: str) -> str:
        return next((f for f in FORCES if f in text.lower()), text.lower())

    return force(answer) == force(reference)


class CountsPerQuestion:
    """Solver answers with `counts[question] = (weak correct, strong correct)` of every 4; other questions: 0 and 4."""

    def __init__(self, counts: dict[str, tuple[int, int]] | None = None) -> None:
        self.counts = counts or {}
        self.seen: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, role: str, question: str) -> str:
        asked = question.splitlines()[-1]
        weak, strong = self.counts.get(asked, (0, 4))
        with self.lock:
            n = self.seen[(role, asked)] % 4 + 1  # a question asked again (scored again) starts over
            self.seen[(role, asked)] += 1
        return "the Lorentz force" if n <= (weak if role == "weak" else strong) else "gravity"


def science_script(counts: dict[str, tuple[int, int]] | None = None, **overrides: Any) -> ScienceScript:
    return ScienceScript(answer=CountsPerQuestion(counts), judge=same_force, **overrides)


class Thread:
    """One science thread on a checkpointer, started with review on, resumed with a reviewer's answers."""

    def __init__(self, script: ScienceScript, name: str, **context: Any) -> None:
        self.script = script
        self.ctx = ScienceContext(**{"max_rounds": 1, "evaluate_top": 1, "review": True, **context})
        self.graph = build_science(scripted_provider(script)).compile(checkpointer=InMemorySaver())
        self.config = {"configurable": {"thread_id": name}, "recursion_limit": recursion_limit(self.ctx.max_rounds)}

    async def start(self) -> dict[str, Any]:
        return await self.graph.ainvoke({"document": make_problem()}, config=self.config, context=self.ctx)

    async def resume(self, value: Any) -> dict[str, Any]:
        return await self.graph.ainvoke(Command(resume=value), config=self.config, context=self.ctx)

    def calls(self) -> Counter:
        return Counter({role: len(prompts) for role, prompts in self.script.calls.items()})


def pause_of(result: dict[str, Any]) -> dict[str, Any]:
    (pause,) = result["__interrupt__"]
    return pause.value


async def test_the_thread_pauses_on_the_winning_candidate_with_everything_a_reviewer_needs():
    # Both screened candidates pass; candidate 2 (0 of 4 weak, 4 of 4 strong) has the wider gap and wins.
    script = science_script({"Round 1 question 0?": (1, 3)})
    thread = Thread(script, "pause", evaluate_top=2)
    payload = pause_of(await thread.start())
    assert EXPECTED_KEYS <= set(payload)
    assert (payload["question"], payload["reference_answer"], payload["round"]) == ("Round 1 question 1?",
                                                                                    "the Lorentz force", 1)
    assert payload["rubric"] == [] and payload["editable"] == ["context", "question", "reference_answer"]
    assert [s["score"] for s in payload["weak"]] == [0.0] * 4 and [s["score"] for s in payload["strong"]] == [1.0] * 4
    assert {s["decided_by"] for s in payload["weak"]} == {"judge"} and payload["strong"][0]["final_answer"]
    assert payload["policy"] == {"rule": "exact counts", "weak_correct_at_most": 1, "weak_samples": 4,
                                 "strong_correct_at_least": 3, "strong_samples": 4}  # fmt: skip
    assert payload["passed_by"] == ("weak 0 of 4 correct (at most 1 allowed), strong 4 of 4 (at least 3 needed); "
                                    "the widest gap of 2 passing candidates")  # fmt: skip
    assert [(v["stage"], v["passed"]) for v in payload["verdicts"]] == [("format", True), ("screen", True)]
    assert payload["verdicts"][1]["rank"] == 2 and payload["verdicts"][1]["reasons"] == ["rank for 2"]
    assert payload["question_type"] == "identify the law" and payload["reasoning_skills"]
    snapshot = await thread.graph.aget_state(thread.config)
    assert snapshot.next == ("review",) and snapshot.values.get("accepted_item") is None


async def test_a_round_that_would_not_accept_never_pauses():
    thread = Thread(science_script({f"Round 1 question {i}?": (2, 4) for i in range(4)}), "too-easy")
    done = await thread.start()
    assert "__interrupt__" not in done
    state = ScienceState.model_validate(done)
    assert state.status == "exhausted" and state.rounds[0].outcome is RoundOutcome.TOO_EASY and state.reviews == []


async def test_review_off_never_pauses():
    thread = Thread(science_script(), "off", review=False)
    done = await thread.start()
    assert "__interrupt__" not in done
    state = ScienceState.model_validate(done)
    assert state.status == "accepted" and state.reviews == [] and state.rounds[0].rule is None


async def test_approve_keeps_the_item_with_its_review():
    thread = Thread(science_script(), "approve")
    payload = pause_of(await thread.start())
    state = ScienceState.model_validate(await thread.resume({"decision": "approve", "reviewer": "ana"}))
    assert state.status == "accepted" and state.accepted_item.question == payload["question"]
    assert [(r.decision, r.reviewer, r.round, r.edited_fields) for r in state.reviews] == [("approve", "ana", 1, [])]
    assert state.rounds[0].outcome is RoundOutcome.ACCEPTED and state.rounds[0].rule is None


async def test_an_edit_of_the_question_keeps_the_edited_item_without_another_model_call():
    thread = Thread(science_script(), "edit-question")
    await thread.start()
    before = thread.calls()
    edits = {"question": "Which force acts on a charge moving through a magnetic field?", "context": "In vacuum."}
    state = ScienceState.model_validate(await thread.resume({"decision": "edit", "edits": edits}))
    assert state.status == "accepted" and thread.calls() == before
    assert (state.accepted_item.question, state.accepted_item.context) == (edits["question"], edits["context"])
    assert state.accepted.item.question == edits["question"] and state.accepted.question_type == "identify the law"
    (record,) = state.reviews
    assert record.edited_fields == ["context", "question"] and not record.needs_rescore
    # The round's record keeps the item as it was scored.
    assert state.rounds[0].candidates[0].item.question == "Round 1 question 0?"


async def test_an_edited_reference_answer_is_scored_again_as_the_next_round_and_kept_without_a_second_pause():
    thread = Thread(science_script(), "edit-answer", max_rounds=2)
    await thread.start()
    before = thread.calls()
    done = await thread.resume({"decision": "edit", "edits": {"reference_answer": "the Lorentz force law"}})
    assert "__interrupt__" not in done
    state = ScienceState.model_validate(done)
    assert state.status == "accepted" and state.accepted_item.reference_answer == "the Lorentz force law"
    # Round 2 solved and checked the edited item only: no challenger, no screen, no diagnosis.
    spent = thread.calls() - before
    assert spent == Counter({"weak": 4, "strong": 4, "judge": 8})
    assert {p.splitlines()[-1] for p in thread.script.calls["weak"][-4:]} == {"Round 1 question 0?"}
    assert all("<reference_answer>the Lorentz force law</reference_answer>" in p
               for p in thread.script.calls["judge"][-8:])  # fmt: skip
    first, second = state.rounds
    assert (first.outcome, first.rule, second.outcome, second.rule) == (
        RoundOutcome.FAILED_QUALITY_CHECK, "review_edit", RoundOutcome.ACCEPTED, None)
    assert [(c.round, c.index, c.item.reference_answer) for c in second.candidates] == [
        (2, 0, "the Lorentz force law")]
    assert (second.results[0].weak_correct, second.results[0].strong_correct) == (0, 4)
    assert [(r.decision, r.edited_fields, r.round, r.needs_rescore) for r in state.reviews] == [
        ("edit", ["reference_answer"], 1, True)]


async def test_an_edited_reference_answer_that_fails_its_counts_goes_to_the_diagnosis_without_a_pause():
    thread = Thread(science_script(), "edit-answer-fails", max_rounds=2)
    await thread.start()
    done = await thread.resume({"decision": "edit", "edits": {"reference_answer": "the Coriolis force"}})
    assert "__interrupt__" not in done
    state = ScienceState.model_validate(done)
    assert state.status == "exhausted" and state.accepted_item is None
    assert [(r.outcome, r.rule) for r in state.rounds] == [
        (RoundOutcome.FAILED_QUALITY_CHECK, "review_edit"), (RoundOutcome.FAILED_ON_STRONG, None)]
    assert len(state.diagnoses) == 1  # only the re-scored round was diagnosed


async def test_an_edited_reference_answer_with_no_round_left_ends_the_document_exhausted():
    thread = Thread(science_script(), "edit-answer-last", max_rounds=1)
    await thread.start()
    before = thread.calls()
    done = await thread.resume({"decision": "edit", "edits": {"reference_answer": "the Lorentz force law"}})
    state = ScienceState.model_validate(done)
    assert state.status == "exhausted" and state.accepted_item is None and thread.calls() == before
    ((outcome, rule),) = [(r.outcome, r.rule) for r in state.rounds]
    assert (outcome, rule) == (RoundOutcome.FAILED_QUALITY_CHECK, "review_edit")


async def test_a_rejection_reaches_the_diagnosis_prompt_and_the_next_rounds_challengers():
    reason = "the question names the force it asks for"
    thread = Thread(science_script(), "reject", max_rounds=2)
    await thread.start()
    again = await thread.resume({"decision": "reject", "reason": reason, "reviewer": "bo"})
    diagnosis_prompt = next(p for p in thread.script.calls["orchestrator"] if "instruction for the next round" in p)
    assert f"<reviewer_reason>{reason}</reviewer_reason>" in diagnosis_prompt
    assert "A reviewer rejected Candidate 1 although its counts passed" in diagnosis_prompt
    round_two = [p for p in thread.script.calls["challenger"] if "round 2 of" in p]
    assert len(round_two) == 4 and all(reason in p for p in round_two)
    # The next round's winner waits for a person again.
    assert pause_of(again)["round"] == 2 and pause_of(again)["question"] == "Round 2 question 0?"
    state = ScienceState.model_validate((await thread.graph.aget_state(thread.config)).values)
    (first,) = state.rounds
    assert (first.outcome, first.rule, first.accepted_candidate) == (RoundOutcome.FAILED_QUALITY_CHECK, "review", None)
    assert reason in first.diagnosis and thread.script.diagnosis in first.diagnosis
    assert (first.weak_avg, first.strong_avg) == (0.0, 1.0)
    assert [(r.decision, r.reason, r.reviewer) for r in state.reviews] == [("reject", reason, "bo")]


async def test_a_rejection_in_the_last_round_ends_the_document_exhausted():
    thread = Thread(science_script(), "reject-last")
    await thread.start()
    state = ScienceState.model_validate(await thread.resume({"decision": "reject", "reason": "ambiguous units"}))
    assert state.status == "exhausted" and state.accepted_item is None and state.rounds[0].rule == "review"


async def test_a_resume_value_that_is_not_a_decision_pauses_again_with_the_reason():
    thread = Thread(science_script(), "bad-resume")
    first = pause_of(await thread.start())
    assert "error" not in first
    no_reason = pause_of(await thread.resume({"decision": "reject"}))
    assert "needs a reason" in no_reason["error"] and no_reason["question"] == first["question"]
    rubric = pause_of(await thread.resume({"decision": "edit", "edits": {"rubric": []}}))
    assert "no rubric to edit" in rubric["error"]
    state = ScienceState.model_validate(await thread.resume("approve"))
    assert state.status == "accepted" and [r.decision for r in state.reviews] == ["approve"]

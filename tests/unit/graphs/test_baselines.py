"""The baseline graphs (CoT-Self-Instruct, Self-Instruct), driven by scripted chat models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import autodata.llm.models
from autodata.cli import app
from autodata.graphs.baselines import RECURSION_LIMIT, build_baseline
from autodata.llm.models import ModelCallFailed
from autodata.report.html import write_report
from autodata.report.tables import build_report
from autodata.state.baselines import BaselineContext, BaselineState
from autodata.state.schemas import RoundOutcome
from autodata.tasks import task_spec
from tests.support.graph_script import GraphScript, default_judge_hits, make_document, rubric_item
from tests.support.scripted import scripted_provider
from tests.unit.report.test_tables import parse_report

REASONING = "The paper says dropout zeroes activations; a question about why it regularises needs two steps."


def cot(item: dict[str, Any]) -> dict[str, Any]:
    return {"reasoning": REASONING, **item}


async def run_baseline(script: GraphScript, method: str, task: str = "cs-research", **context: Any):
    provider = scripted_provider(script)
    ctx = BaselineContext(task=task, family=task_spec(task).family, **{"samples": 4, **context})
    raw = await build_baseline(method, provider).compile().ainvoke(
        {"document": make_document()}, context=ctx, config={"recursion_limit": RECURSION_LIMIT}
    )
    return BaselineState.model_validate(raw)


def roles_of(state: BaselineState, round_: int = 1) -> list[str]:
    return sorted(a.role for a in state.rounds[0].attempts if a.round == round_)


async def test_self_instruct_scores_the_item_once_and_meets_the_policy():
    script = GraphScript(items=[rubric_item("Why does dropout reduce overfitting?")])
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and state.meets_policy
    assert state.method == "self-instruct" and state.reasoning == ""
    [record] = state.rounds
    assert record.outcome is RoundOutcome.ACCEPTED
    assert record.weak_avg == pytest.approx(2 / 7) and record.strong_avg == pytest.approx(6 / 7)
    assert roles_of(state) == ["strong"] * 4 + ["weak"] * 4
    # The quality verifier's role serves the in-loop check and the end-of-loop filter: one call each.
    assert len(script.calls["challenger"]) == 1 and len(script.calls["quality_verifier"]) == 2
    assert state.usage["judge"].calls == 8
    assert "orchestrator" not in script.calls  # no feedback loop
    assert "reason step by step" not in script.calls["challenger"][0]


async def test_cot_self_instruct_reasons_before_writing_the_item():
    script = GraphScript(items=[cot(rubric_item("Why does dropout reduce overfitting?"))])
    state = await run_baseline(script, "cot-self-instruct")
    assert state.status == "kept" and state.meets_policy
    assert state.reasoning == REASONING
    assert state.accepted_item.question == "Why does dropout reduce overfitting?"
    assert "reason step by step in `reasoning`" in script.calls["challenger"][0]
    # Rubric tasks have no answer-consistency filter: the strong solver ran only for scoring.
    assert state.consistency is None and state.usage["strong"].calls == 4


async def test_too_easy_item_is_kept_scored_by_both_solvers_and_fails_the_policy():
    script = GraphScript(items=[rubric_item("Easy?")], judge_hits=lambda answer, n: [True] * (n - 1) + [False])
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and not state.meets_policy
    assert state.rounds[0].outcome is RoundOutcome.TOO_EASY and state.rounds[0].rule == "weak_avg_ceiling"
    # Unlike the agentic loop, the strong solver still runs, so both averages exist.
    assert state.rounds[0].weak_avg == pytest.approx(5 / 7) and state.rounds[0].strong_avg == pytest.approx(5 / 7)


async def test_failed_quality_check_is_recorded_but_the_item_is_still_scored():
    script = GraphScript(
        items=[rubric_item("What year was it published?")],
        quality=lambda text: {"passed": False, "reasons": ["asks for recall, not reasoning"]},
    )
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and not state.meets_policy
    assert state.rounds[0].outcome is RoundOutcome.FAILED_QUALITY_CHECK
    reasons = state.rounds[0].quality[0].reasons
    assert reasons == ["verifier: question: RECALL", "verifier: asks for recall, not reasoning"]
    assert state.rounds[0].strong_avg == pytest.approx(6 / 7)


async def test_a_failed_quality_check_outranks_unscorable_attempts_as_in_the_loop():
    # The loop never scores an item that failed its quality check, so that is the outcome to record.
    script = GraphScript(
        items=[rubric_item("Q?")],
        quality=lambda text: {"passed": False, "reasons": ["generic"]},
        judge_hits=lambda answer, n: [True],  # wrong length: the attempts cannot be scored
    )
    state = await run_baseline(script, "self-instruct")
    assert state.rounds[0].outcome is RoundOutcome.FAILED_QUALITY_CHECK
    assert state.rounds[0].error == "some weak attempts could not be scored"


async def test_malformed_quality_verifier_output_is_a_model_error():
    script = GraphScript(items=[rubric_item("Q?")], quality=lambda text: {"bogus": 1})
    state = await run_baseline(script, "self-instruct")
    assert state.status == "kept" and state.rounds[0].outcome is RoundOutcome.MODEL_ERROR


async def test_an_endpoint_failure_stops_the_document_as_in_the_loop():
    def quality(text):
        raise ConnectionError("connection refused")

    with pytest.raises(ModelCallFailed) as raised:
        await run_baseline(GraphScript(items=[rubric_item("Q?")], quality=quality), "self-instruct")
    assert raised.value.role == "quality_verifier"


async def test_strong_failure_is_recorded_as_failed_on_strong():
    script = GraphScript(items=[rubric_item("Too hard?")], judge_hits=lambda answer, n: default_judge_hits("", n))
    state = await run_baseline(script, "self-instruct")
    assert state.rounds[0].outcome is RoundOutcome.FAILED_ON_STRONG and not state.meets_policy


async def test_malformed_generator_output_yields_no_item():
    script = GraphScript(items=[{"not_a_field": "garbage"}])
    state = await run_baseline(script, "cot-self-instruct")
    assert state.status == "no_item" and state.item is None
    assert state.rounds[0].outcome is RoundOutcome.MODEL_ERROR
    assert "challenger: " in state.rounds[0].error and "Error" in state.rounds[0].error
    assert set(script.calls) == {"challenger"}


async def test_a_generator_endpoint_failure_stops_the_document():
    with pytest.raises(ModelCallFailed, match="connection refused"):
        await run_baseline(GraphScript(items=[ConnectionError("connection refused")]), "cot-self-instruct")


PROBLEM = {"question": "What is 17 + 25?", "reference_answer": "42"}


def answers(strong: str, weak: str = "Final answer: 7"):
    return lambda role, question: strong if role == "strong" else weak


async def test_answer_consistency_filter_keeps_a_consistent_item():
    script = GraphScript(items=[cot(PROBLEM)], solver=answers("Final answer: 42.0"))
    state = await run_baseline(script, "cot-self-instruct", task="science", consistency_samples=3)
    assert state.consistency.agrees and state.consistency.majority_votes == 3
    assert len(state.consistency_attempts) == 3
    assert state.status == "kept" and state.meets_policy
    # K = 3 filter samples plus k = 4 scoring samples, kept apart.
    assert state.usage["strong"].calls == 7 and roles_of(state) == ["strong"] * 4 + ["weak"] * 4


async def test_answer_consistency_filter_drops_an_inconsistent_item():
    strong = iter(["Final answer: 41", "Final answer: 42", "Final answer: 41", "Final answer: 41"])
    script = GraphScript(items=[cot(PROBLEM)], solver=lambda role, q: next(strong))
    state = await run_baseline(script, "cot-self-instruct", task="science", consistency_samples=4)
    assert state.status == "dropped" and not state.meets_policy and state.accepted_item is None
    assert state.consistency.majority_answer == "41" and state.consistency.majority_votes == 3
    assert not state.consistency.agrees
    [record] = state.rounds
    assert record.outcome is RoundOutcome.FAILED_QUALITY_CHECK
    assert "majority answer '41' (3/4 samples) disagrees with the generated answer '42'" in record.quality[0].reasons[0]
    # A dropped item is neither quality-checked nor scored.
    assert "weak" not in script.calls and "quality_verifier" not in script.calls and record.attempts == []


async def test_self_instruct_has_no_answer_consistency_filter():
    script = GraphScript(items=[PROBLEM], solver=answers("Final answer: 41"))
    state = await run_baseline(script, "self-instruct", task="science")
    assert state.consistency is None and state.status == "kept"
    assert state.rounds[0].outcome is RoundOutcome.FAILED_ON_STRONG
    assert state.usage["strong"].calls == 4


# ---- through the CLI: the RIP filter, the rubric rules the generator is given, the task's sample counts ----------

# Each paper's question, and how many of the 7 positive criteria its strong answers meet (its RIP score, x/7).
PAPERS = {
    "alpha": ("Why does dropout act like an ensemble of thinned networks at test time?", 6),
    "beta": ("Which failure appears when batch normalisation meets a batch of size one?", 5),
    "gamma": ("How would weight decay interact with adaptive learning rates in Adam?", 4),
    "delta": ("What breaks in label smoothing when the classes are heavily imbalanced?", 3),
    "epsilon": ("Why might early stopping select a model that underfits rare examples?", 1),
}


def rip_script() -> GraphScript:
    def solver(role: str, question: str) -> str:
        paper = next(name for name, (q, _) in PAPERS.items() if q in question)
        return f"{role} answer about {paper}"

    def judge_hits(answer: str, n: int) -> list[bool]:
        paper = answer.rsplit(" ", 1)[-1]
        met = PAPERS[paper][1] if answer.startswith("strong") else 1
        return [index < met for index in range(n)]

    script = GraphScript(items=[None], solver=solver, judge_hits=judge_hits)

    def challenger(role, messages, tool):
        if role != "challenger":
            return script(role, messages, tool)
        script.calls.setdefault(role, []).append("\n".join(str(m.content) for m in messages))
        paper = str(messages[-1].content).split("Document: ", 1)[1].split()[1]
        return cot(rubric_item(PAPERS[paper][0]))

    challenger.calls = script.calls
    return challenger


def baseline_cli(monkeypatch, script, sources, out):
    monkeypatch.setattr(autodata.llm.models, "ModelProvider", lambda settings: scripted_provider(script))
    return CliRunner().invoke(app, ["baseline", "--method", "cot-self-instruct", "--task", "cs-research",
                                    "--sources", str(sources), "--out", str(out)], env={"AUTODATA_NO_PROGRESS": "1"})


def read_rows(path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_cot_self_instruct_on_a_rubric_task_applies_the_rip_filter_after_the_batch(tmp_path, monkeypatch):
    sources = tmp_path / "papers"
    sources.mkdir()
    for name in ("alpha", "beta", "gamma", "delta"):
        (sources / f"{name}.md").write_text(f"# Paper {name}\n\nA paper about {name} regularisation.\n")
    out = tmp_path / "cot"
    script = rip_script()
    result = baseline_cli(monkeypatch, script, sources, out)
    assert result.exit_code == 0, result.output
    assert "RIP filter: 4 -> 3 item(s)" in result.output

    # The generator was told the rubric rules the end filter enforces.
    prompt = script.calls["challenger"][0]
    for rule in ("10 to 20 criteria", "At least 4 positive criteria, weight +1 to +10",
                 "At least 3 negative criteria, weight -1 to -10", "No criterion about form"):  # fmt: skip
        assert rule in " ".join(prompt.split()), rule
    assert "one sentence" not in prompt
    # Scored with the task's 3 + 3 samples (as its agentic set), 4 documents.
    assert len(script.calls["weak"]) == 12 and len(script.calls["strong"]) == 12
    config = json.loads((out / "config.json").read_text())
    assert config["context"]["rip_fraction"] == 0.25 and config["context"]["weak_samples"] == 3

    # The bottom quarter by the lowest strong score (delta, 3/7) left items.jsonl for rip_dropped.jsonl.
    items = read_rows(out / "items.jsonl")
    assert sorted(row["question"] for row in items) == sorted(PAPERS[p][0] for p in ("alpha", "beta", "gamma"))
    assert all(row["rip_score"] == pytest.approx(min(row["strong_scores"])) for row in items)
    [dropped] = read_rows(out / "rip_dropped.jsonl")
    assert dropped["question"] == PAPERS["delta"][0] and dropped["rip_score"] == pytest.approx(3 / 7)
    rip = json.loads((out / "stats.json").read_text())["rip_filter"]
    assert (rip["before"], rip["dropped"], rip["after"], rip["fraction"]) == (4, 1, 3, 0.25)
    assert rip["dropped_ids"] == [dropped["id"]]

    # The report shows the filter's attrition next to Table 1.
    html = parse_report(write_report(build_report([out]), tmp_path / "report"))
    header, *rows = html.tables["attrition"]
    assert header == ["run", "method", "filter", "before", "removed", "after"]
    [row] = [row for row in rows if row[2].startswith("RIP filter")]
    assert row[:3] == ["cot", "cot-self-instruct", "RIP filter (bottom 25% by lowest strong-solver rubric score)"]
    assert row[3:] == ["4", "1", "3"]

    # Resumed with a fifth paper: the union is ranked afresh; the new lowest goes, delta comes back.
    (sources / "epsilon.md").write_text("# Paper epsilon\n\nA paper about epsilon regularisation.\n")
    again = rip_script()
    result = baseline_cli(monkeypatch, again, sources, out)
    assert result.exit_code == 0, result.output
    assert len(again.calls["challenger"]) == 1  # only the new paper was generated
    assert sorted(row["question"] for row in read_rows(out / "items.jsonl")) == sorted(
        PAPERS[p][0] for p in ("alpha", "beta", "gamma", "delta"))
    assert [row["question"] for row in read_rows(out / "rip_dropped.jsonl")] == [PAPERS["epsilon"][0]]
    assert json.loads((out / "stats.json").read_text())["rip_filter"]["before"] == 5


def test_a_baseline_context_refuses_review_with_the_reason():
    from pydantic import ValidationError

    from autodata.state.baselines import BaselineContext

    assert BaselineContext().review is False
    with pytest.raises(ValidationError, match="baseline graphs do not pause for review"):
        BaselineContext(review=True)

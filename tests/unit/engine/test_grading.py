"""Fair comparison (METHOD.md sections 6-7): `autodata grade`, the fresh-graded Table 1, --match-count, and the
baselines' end-of-loop and self-consistency filters. Models are scripted."""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import autodata.llm.models
from autodata.engine.baseline_runner import BaselineOptions
from autodata.tasks.baselines import BaselineRunner
from autodata.cli import app
from autodata.engine.corpus import iter_documents
from autodata.engine.grading import GRADES, read_grades
from autodata.report.tables import build_report, sample_items
from autodata.report.html import write_report
from autodata.engine.rundir import LOCK, RunDirectory
from autodata.state.schemas import RoundOutcome
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import scripted_provider
from tests.unit.graphs.test_baselines import PROBLEM, cot, run_baseline
from tests.unit.report.test_tables import AGENTIC, COT, parse_report

# ---- autodata grade ---------------------------------------------------------------------------------------


def rubric_row(item_id: str, question: str) -> dict[str, Any]:
    """An items.jsonl row as a run writes it, with in-loop scores that `grade` must not touch."""
    return {"id": item_id, "task": "cs-research", "family": "rubric", "method": "agentic-self-instruct",
            **rubric_item(question), "rounds": 4, "weak_scores": [0.5, 0.5, 0.5], "strong_scores": [0.9, 0.9, 0.9],
            "weak_avg": 0.5, "strong_avg": 0.9, "gap": 0.4}  # fmt: skip


def make_run(path: Path, rows: list[dict[str, Any]], context: dict[str, Any]) -> Path:
    path.mkdir(parents=True)
    (path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (path / "config.json").write_text(json.dumps({"task": context["task"], "context": context}), encoding="utf-8")
    return path


def grade_cli(monkeypatch, script, *args: str):
    monkeypatch.setattr(autodata.llm.models, "ModelProvider", lambda settings: scripted_provider(script))
    return CliRunner().invoke(app, ["grade", *args], env={"AUTODATA_NO_PROGRESS": "1"})


def test_grade_writes_fresh_scores_without_touching_the_items_and_resumes(tmp_path, monkeypatch):
    run = make_run(tmp_path / "cs1", [rubric_row("id-1", "Q one?"), rubric_row("id-2", "Q two?")],
                   {"task": "cs-research", "weak_samples": 2, "strong_samples": 3})  # fmt: skip
    items_before = (run / "items.jsonl").read_bytes()
    script = GraphScript(items=[None])
    result = grade_cli(monkeypatch, script, str(run))
    assert result.exit_code == 0, result.output
    assert (run / "items.jsonl").read_bytes() == items_before

    grades = read_grades(run)
    assert set(grades) == {"id-1", "id-2"}
    row = grades["id-1"]
    # The scripted judge: a weak answer meets 2 of 7 positive criteria, a strong one 6 of 7. The run used 2 + 3
    # samples in its loop; the fresh grade uses the task's 3 + 3, as for every other run graded, and says so.
    assert row["weak_scores"] == [pytest.approx(2 / 7)] * 3 and row["strong_scores"] == [pytest.approx(6 / 7)] * 3
    assert row["gap"] == pytest.approx(4 / 7) and row["unscored"] == 0
    assert row["samples"] == {"weak": 3, "strong": 3, "chosen_by": "task default"}
    assert row["decided_by"] == {"judge": 6}
    assert set(row["models"]) == {"weak", "strong", "judge"} and row["graded_at"]
    assert len(script.calls["weak"]) == 6 and len(script.calls["strong"]) == 6 and len(script.calls["judge"]) == 12
    # The solvers see context and question only; the judge never sees the reference answer.
    solver_calls = script.calls["weak"] + script.calls["strong"]
    assert all("Q one?" in c or "Q two?" in c for c in solver_calls)
    assert all("mentions point 0" not in c for c in solver_calls)
    assert all("It trades bias for variance" not in call for call in [*solver_calls, *script.calls["judge"]])

    again = GraphScript(items=[None])
    grades_before = (run / GRADES).read_bytes()
    result = grade_cli(monkeypatch, again, str(run))
    assert result.exit_code == 0 and "0 item(s) graded, 2 already graded" in result.output
    assert again.calls == {} and (run / GRADES).read_bytes() == grades_before


def test_an_endpoint_failure_leaves_the_item_ungraded_exit_3_and_a_rerun_grades_it(tmp_path, monkeypatch):
    run = make_run(tmp_path / "cs1", [rubric_row("id-1", "Q one?"), rubric_row("id-2", "Q two?")],
                   {"task": "cs-research"})  # fmt: skip

    def strong_down_on_two(role: str, question: str) -> str:
        if role == "strong" and "two" in question:
            raise ConnectionError("connection refused")
        return f"{role} answer"

    result = grade_cli(monkeypatch, GraphScript(items=[None], solver=strong_down_on_two), str(run))
    assert result.exit_code == 3, result.output
    assert set(read_grades(run)) == {"id-1"}
    retry = GraphScript(items=[None])
    assert grade_cli(monkeypatch, retry, str(run)).exit_code == 0
    assert set(read_grades(run)) == {"id-1", "id-2"}
    assert len(script_questions(retry)) == 3 + 3  # only id-2 was answered again (3 + 3 samples by default)


def script_questions(script: GraphScript) -> list[str]:
    return [call for role in ("weak", "strong") for call in script.calls.get(role, [])]


def test_grade_scores_verifiable_items_by_equivalence_with_the_given_sample_counts(tmp_path, monkeypatch):
    row = {"id": "p1", "task": "science", "family": "verifiable", "method": "cot-self-instruct", "context": "",
           "question": "What is 17 + 25?", "reference_answer": "42", "rubric": [], "rounds": 1}  # fmt: skip
    run = make_run(tmp_path / "sci", [row], {"task": "science", "weak_samples": 4, "strong_samples": 4})
    script = GraphScript(items=[None], solver=lambda role, q: "Final answer: 42.0" if role == "strong" else "7")
    result = grade_cli(monkeypatch, script, str(run), "--weak-samples", "2", "--strong-samples", "1")
    assert result.exit_code == 0, result.output
    graded = read_grades(run)["p1"]
    assert graded["weak_scores"] == [0.0, 0.0] and graded["strong_scores"] == [1.0] and graded["gap"] == 1.0
    assert "judge" not in script.calls and graded["models"]["verifier"] == "answer checker"
    assert graded["samples"] == {"weak": 2, "strong": 1, "chosen_by": "option"}


def test_runs_graded_together_get_the_same_counts_and_undecided_science_answers_go_to_the_judge(
    tmp_path, monkeypatch
):
    """Like for like: two runs made with different loop sample counts are graded with the task's 4 + 4; a phrase
    answer the checker cannot decide is judged against the reference as in the loop, not failed by a string."""
    row = {"id": "p1", "task": "science", "family": "verifiable", "method": "agentic-self-instruct", "context": "",
           "question": "Which force keeps the satellite in orbit?", "reference_answer": "gravity",
           "rubric": [], "rounds": 3}  # fmt: skip
    runs = [make_run(tmp_path / "agentic", [row], {"task": "science", "weak_samples": 2, "strong_samples": 6}),
            make_run(tmp_path / "cot", [{**row, "id": "p2", "method": "cot-self-instruct"}], {"task": "science"})]
    judged: list[str] = []

    def script(role: str, messages, tool):
        text = "\n".join(str(m.content) for m in messages)
        if role == "judge":
            assert tool == "AnswerMatch"
            judged.append(text)
            same = "gravitational attraction" in text.split("<answer>")[1]
            return {"equivalent": same, "reason": "same force" if same else "another force"}
        return ("The answer is: the gravitational attraction of the planet" if role == "strong"
                else "The answer is: centrifugal force")  # fmt: skip

    result = grade_cli(monkeypatch, script, *map(str, runs))
    assert result.exit_code == 0, result.output
    for run in runs:
        [graded] = read_grades(run).values()
        assert graded["samples"] == {"weak": 4, "strong": 4, "chosen_by": "task default"}
        assert graded["strong_scores"] == [1.0] * 4 and graded["weak_scores"] == [0.0] * 4
        assert graded["decided_by"] == {"judge": 8}
    # The judge got the question, the final answer and the reference: 8 samples per run.
    assert len(judged) == 16 and all("gravity" in call and "satellite" in call for call in judged)

    # Grading again with other counts would mix two gradings in one table: refused.
    again = grade_cli(monkeypatch, script, str(runs[0]), "--weak-samples", "2")
    assert again.exit_code == 2 and "graded with 4 + 4 samples" in again.output


def test_grade_refuses_a_missing_run_directory(tmp_path, monkeypatch):
    result = grade_cli(monkeypatch, GraphScript(items=[None]), str(tmp_path / "nope"))
    assert result.exit_code == 2 and "run directory not found" in result.output


def test_grade_refuses_a_run_directory_another_process_writes(tmp_path, monkeypatch):
    run = make_run(tmp_path / "cs1", [rubric_row("id-1", "Q one?")], {"task": "cs-research"})
    script = GraphScript(items=[None])
    with (run / LOCK).open("w") as other:  # as another process holds it: a lock on its own open file
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = grade_cli(monkeypatch, script, str(run))
    assert result.exit_code == 2 and "in use by another autodata process" in result.output
    assert script.calls == {} and not (run / GRADES).exists()


# ---- the report: fresh-graded Table 1, --match-count ------------------------------------------------------


def with_grades(source: Path, target: Path, weak: float, strong: float) -> Path:
    shutil.copytree(source, target)
    ids = [json.loads(line)["id"] for line in (target / "items.jsonl").read_text().splitlines() if line.strip()]
    rows = [{"item_id": i, "weak_avg": weak, "strong_avg": strong} for i in ids]
    (target / GRADES).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return target


def test_the_report_shows_fresh_graded_table_1_and_says_so(tmp_path):
    agentic = with_grades(AGENTIC, tmp_path / "agentic_cs", weak=0.45, strong=0.75)
    target = write_report(build_report([agentic, COT]), tmp_path / "out")
    html = parse_report(target)
    header, *rows = html.tables["table1"]
    assert header == ["run", "method", "scores", "items", "weak avg", "strong avg", "gap", "rounds",
                      "question chars", "rubric items"]  # fmt: skip
    by_run = {row[0]: row for row in rows}
    assert by_run["agentic_cs"][2:7] == ["fresh-graded (2/2)", "2", "0.450", "0.750", "0.300"]
    assert by_run["cot_cs"][2:7] == ["in-loop", "3", "0.400", "0.633", "0.233"]
    text = target.read_text(encoding="utf-8")
    assert "fresh-graded (`autodata grade`) for agentic_cs; in-loop" in text

    result = CliRunner().invoke(app, ["report", str(agentic), str(COT), "--out", str(tmp_path / "out2")],
                                env={"COLUMNS": "240"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Table 1: Scores are fresh-graded" in result.output and "fresh-graded (2/2)" in result.output


def test_the_report_without_grades_labels_its_scores_in_loop(tmp_path):
    html = parse_report(write_report(build_report([AGENTIC]), tmp_path / "out"))
    assert html.tables["table1"][1][2] == "in-loop"


def test_match_count_samples_the_larger_set_down_deterministically(tmp_path):
    first = build_report([AGENTIC, COT], match_count=True, match_seed=7)
    second = build_report([COT, AGENTIC], match_count=True, match_seed=7)
    assert [s.items for s in first.summaries] == [2, 2]
    cot_ids = {i["id"] for i in first.runs[1].items}
    assert len(cot_ids) == 2 and cot_ids == {i["id"] for i in second.runs[0].items}
    assert first.runs[0].items == build_report([AGENTIC]).runs[0].items  # the smaller set is kept whole
    assert "cs-research: sets sampled to the same size, 2 items per run" in first.matched[0].note()
    assert "cot_cs 3 -> 2" in first.matched[0].note()
    # The sample depends on the ids and the seed, not on the file order.
    items = [{"id": f"i{n}"} for n in range(10)]
    assert {i["id"] for i in sample_items(items, 4, 3)} == {i["id"] for i in sample_items(items[::-1], 4, 3)}
    assert len(sample_items(items, 4, 3)) == 4

    result = CliRunner().invoke(app, ["report", str(AGENTIC), str(COT), "--match-count", "--out",
                                      str(tmp_path / "out")], env={"COLUMNS": "240"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sets sampled to the same size" in result.output
    assert "sets sampled to the same size" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


# ---- baselines: the end-of-loop filter and self-consistency ---------------------------------------------


async def test_a_baseline_rubric_item_failing_the_end_filter_is_not_kept():
    script = GraphScript(items=[cot(rubric_item("Q?"))],
                         end_filter=lambda text: {"passed": False, "reasons": ["the context states the answer"]})
    state = await run_baseline(script, "cot-self-instruct")
    assert state.status == "filtered" and state.accepted_item is None and not state.meets_policy
    [record] = state.rounds
    assert record.outcome is RoundOutcome.FAILED_QUALITY_CHECK and record.rule == "end_filter_rubric"
    assert [v.stage for v in record.quality] == ["initial", "end_filter"]
    assert "weak" not in script.calls and "strong" not in script.calls  # a filtered item is not scored


async def test_baseline_end_filter_rejections_are_counted_in_stats(tmp_path):
    sources = tmp_path / "papers"
    sources.mkdir()
    for name in ("alpha", "beta"):
        (sources / f"{name}.md").write_text(f"# Paper {name}\n\nA paper about {name} regularisation.\n")

    def end_filter(text: str) -> dict[str, Any]:
        return {"passed": "beta" not in text, "reasons": ["leaks"]}

    script = GraphScript(items=[cot(rubric_item("Why does it regularise?"))], end_filter=end_filter)
    provider = scripted_provider(script)
    options = BaselineOptions(task="cs-research", method="cot-self-instruct", samples=3, run_id="b1")
    run_dir = RunDirectory(tmp_path / "b1")
    await BaselineRunner(options, provider, run_dir).run(iter_documents(sources, 6000))
    stats = json.loads(run_dir.file("stats.json").read_text())
    assert stats["final_filter"] == {"passed": 1, "rejected": 1}
    assert stats["kept"] == 1 and len(run_dir.items()) == 1
    assert sorted(t["status"] for t in run_dir.trajectories()) == ["filtered", "kept"]


async def test_a_majority_under_half_of_the_samples_drops_the_item():
    # The majority answer agrees with the generated 42, but holds only 2 of 5 samples: not self-consistent.
    strong = iter(["Final answer: 42", "Final answer: 42", "Final answer: 41", "Final answer: 40", "Final answer: 39"])
    script = GraphScript(items=[cot(PROBLEM)], solver=lambda role, q: next(strong))
    state = await run_baseline(script, "cot-self-instruct", task="science", consistency_samples=5)
    assert state.status == "dropped" and state.accepted_item is None
    assert state.consistency.majority_answer == "42" and state.consistency.majority_votes == 2
    assert not state.consistency.self_consistent and not state.consistency.agrees
    assert "holds only 2/5 samples (under 50%)" in state.rounds[0].quality[-1].reasons[0]
    assert "weak" not in script.calls  # a dropped item is not scored


async def test_a_majority_of_exactly_half_keeps_a_consistent_item():
    answers = iter(["Final answer: 42", "Final answer: 42", "Final answer: 40", "Final answer: 39"])
    script = GraphScript(items=[cot(PROBLEM)],
                         solver=lambda role, q: next(answers, "Final answer: 42") if role == "strong" else "7")
    state = await run_baseline(script, "cot-self-instruct", task="science", consistency_samples=4)
    assert state.consistency.self_consistent and state.consistency.agrees and state.status == "kept"

"""`autodata review`: the waiting items one by one in the terminal, or decided by flags; each decision checked
and appended to reviews.jsonl with the reviewer's name and time."""

from __future__ import annotations

from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.reviews import Pause, ReviewLog

RUBRIC = [{"criterion": "names the trade-off", "weight": 1.0, "category": "positive"}]


def waiting_run(tmp_path, n: int = 2) -> ReviewLog:
    log = ReviewLog(tmp_path)
    for i in range(n):
        payload = {
            "question": f"Question {i}?",
            "context": "ctx",
            "reference_answer": "answer",
            "rubric": RUBRIC,
            "weak": [{"score": 0.2}],
            "strong": [{"score": 0.9}],
            "round": 1,
            "policy": {"preset": "paper"},
        }
        log.record_pause(Pause(f"item-{i}", f"doc{i}", f"p{i}", payload))
    return log


def test_the_terminal_shows_each_item_and_takes_the_decisions(tmp_path):
    log = waiting_run(tmp_path)
    result = CliRunner().invoke(app, ["review", str(tmp_path)], input="a\nr\ntoo vague\n",
                                env={"AUTODATA_REVIEWER": "ana", "COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Question 0?" in result.output and "names the trade-off" in result.output
    decided = log.decisions()
    assert decided[("item-0", "p0")]["decision"] == "approve" and decided[("item-0", "p0")]["reviewer"] == "ana"
    assert (decided[("item-1", "p1")]["decision"], decided[("item-1", "p1")]["reason"]) == ("reject", "too vague")
    assert decided[("item-1", "p1")]["at"] and log.waiting() == []


def test_flags_decide_scripted_and_an_edit_file_is_read_as_toml(tmp_path):
    log = waiting_run(tmp_path)
    fixes = tmp_path / "fixes.toml"
    fixes.write_text('reference_answer = "A better answer."\n')
    result = CliRunner().invoke(app, ["review", str(tmp_path), "--edit", "item-0", str(fixes), "--reviewer", "bo"])
    assert result.exit_code == 0, result.output
    row = log.decisions()[("item-0", "p0")]
    assert (row["decision"], row["edits"], row["reviewer"]) == ("edit", {"reference_answer": "A better answer."}, "bo")


def test_a_decision_that_cannot_be_recorded_exits_2_with_one_line(tmp_path):
    waiting_run(tmp_path, 1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"score": 1}')
    cases = [(["--edit", "item-0", str(bad)], "item item-0 has no score to edit"),
             (["--approve", "item-9"], "no item item-9"),
             (["--reject", "item-0"], "needs a reason")]  # fmt: skip
    for flags, message in cases:
        result = CliRunner().invoke(app, ["review", str(tmp_path), *flags])
        assert result.exit_code == 2 and message in result.output, result.output
    assert ReviewLog(tmp_path).decisions() == {}


def test_an_incomplete_answer_in_the_terminal_is_asked_again_and_quit_leaves_the_rest_waiting(tmp_path):
    log = waiting_run(tmp_path)
    result = CliRunner().invoke(app, ["review", str(tmp_path), "--reviewer", "cy"], input="r\n\nr\nleaks\nq\n")
    assert result.exit_code == 0, result.output
    assert "needs a reason; try again" in result.output
    assert log.decisions()[("item-0", "p0")]["reason"] == "leaks"
    assert [pause.item_id for pause in log.waiting()] == ["item-1"]

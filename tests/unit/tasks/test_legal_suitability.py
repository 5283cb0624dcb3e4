"""`autodata rate-suitability`: baseline items rated by the same loop judge the legal graph uses."""

from __future__ import annotations

import json

from autodata.report.tables import build_report
from autodata.tasks.legal.report import legal_reports
from autodata.tasks.legal.suitability import rate_run
from tests.support.legal_script import judge
from tests.support.scripted import scripted_provider


def baseline_run(tmp_path):
    run = tmp_path / "cot_legal"
    run.mkdir()
    rubric = [{"criterion": "Names the implied warranty", "weight": 9}, {"criterion": "Explains notice", "weight": 4},
              {"criterion": "Asserts the buyer waived it", "weight": -3}]  # fmt: skip
    items = [{"id": f"i{n}", "task": "legal", "family": "rubric", "method": "cot-self-instruct",
              "source_doc_id": f"d{n}", "question": f"Question {n}: my new boiler broke in week two. Can I get a refund?",
              "rubric": rubric, "weak_scores": [0.0, 0.3], "strong_scores": [0.9]} for n in (1, 2)]  # fmt: skip
    attempts = [{"round": 1, "role": "weak", "sample_index": 0, "answer": "WEAK-ANSWER-ZERO"},
                {"round": 1, "role": "weak", "sample_index": 1, "answer": "weak answer one"},
                {"round": 1, "role": "strong", "sample_index": 0, "answer": "strong answer"}]  # fmt: skip
    scores = [{"round": 1, "role": "weak", "sample_index": 0, "score": 0.0, "criteria_hits": [False, False, True]},
              {"round": 1, "role": "weak", "sample_index": 1, "score": 4 / 13, "criteria_hits": [False, True, False]},
              {"round": 1, "role": "strong", "sample_index": 0, "score": 1.0, "criteria_hits": [True, True, False]}]
    trajectories = [{"id": i["id"], "doc_id": i["source_doc_id"], "status": "kept",
                     "rounds": [{"round": 1, "outcome": "too_easy", "attempts": attempts, "scores": scores}]}
                    for i in items]  # fmt: skip
    (run / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (run / "trajectories.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trajectories))
    (run / "stats.json").write_text(json.dumps({"task": "legal", "method": "cot-self-instruct"}))
    return run


async def test_baseline_items_get_the_loop_judges_rating_and_the_report_shows_it(tmp_path):
    run = baseline_run(tmp_path)
    prompts = []

    def script(role, messages, tool):
        assert role == "orchestrator" and tool == "LoopJudgeVerdict"
        prompts.append(str(messages[-1].content))
        return judge("improve", suggestion="Needs a reasoning step.", suitability="low")

    summary = await rate_run(run, scripted_provider(script))
    assert (summary.rated, summary.already_rated, summary.failed) == (2, 0, 0)
    ratings = json.loads((run / "suitability.json").read_text())["ratings"]
    assert ratings["i1"]["grpo_suitability"] == "low" and ratings["i1"]["verdict"] == "improve"
    # The packet is built from the baseline's own samples and verdicts.
    assert "Question 1: my new boiler" in prompts[0] and "WEAK-ANSWER-ZERO" in prompts[0]
    assert "[critical +9, untagged] Names the implied warranty" in prompts[0]
    assert "1. weak 0/2, strong 1/1" in prompts[0] and "3. weak 1/2, strong 0/1" in prompts[0]
    (report,) = legal_reports(build_report([run]))
    assert report.share("low") == 100.0 and report.suitability["unrated"] == 0

    again = await rate_run(run, scripted_provider(script))
    assert (again.rated, again.already_rated) == (0, 2) and len(prompts) == 2


async def test_a_failed_rating_is_not_stored_and_is_asked_again(tmp_path):
    run = baseline_run(tmp_path)

    def failing(role, messages, tool):
        raise ConnectionError("refused")

    summary = await rate_run(run, scripted_provider(failing))
    assert (summary.rated, summary.failed) == (0, 2) and not (run / "suitability.json").exists()

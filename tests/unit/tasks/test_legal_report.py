"""Report additions for legal runs: numbers checked against values computed by hand."""

from __future__ import annotations

import json

import pytest

from autodata.report.tables import build_report
from autodata.report.html import write_report
from autodata.tasks import report_sections
from autodata.tasks.legal.report import legal_reports, legal_tables


def write_run(path, items, task="legal", ratings=None):
    path.mkdir()
    (path / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    trajectories = [{"id": i["id"], "doc_id": i["source_doc_id"], "status": "accepted",
                     "rounds": [{"round": 1, "outcome": "accepted"}]} for i in items]  # fmt: skip
    (path / "trajectories.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trajectories))
    (path / "stats.json").write_text(json.dumps({"task": task}))
    if ratings is not None:
        (path / "suitability.json").write_text(json.dumps({"ratings": ratings}))
    return path


CRITERION = {"criterion": "Names the rule", "weight": 9, "capability": "rule", "weight_class": "critical"}


def item(item_id, method="agentic-self-instruct", **fields):
    return {"id": item_id, "task": "legal", "family": "rubric", "method": method, "source_doc_id": item_id,
            "question": "Q?", "weak_avg": 0.3, "strong_avg": 0.8, **fields}  # fmt: skip


@pytest.fixture
def runs(tmp_path):
    agentic = write_run(tmp_path / "agentic_legal", [
        item("x", weak_std=0.1, weak_scores=[0.2, 0.4], grpo_suitability="high", rubric=[CRITERION] * 3,
             question="Q" * 9, capability_table=[
            {"capability": "rule", "criteria": 2, "weak_pct": 30.0, "strong_pct": 100.0},
            {"capability": "remedy", "criteria": 2, "weak_pct": 50.0, "strong_pct": 100.0}]),
        item("y", weak_scores=[0.0, 0.5, 1.0], grpo_suitability="medium", rubric=[CRITERION] * 2,
             capability_table=[
            {"capability": "rule", "criteria": 3, "weak_pct": 10.0, "strong_pct": 80.0}]),
    ])  # fmt: skip
    baseline = write_run(tmp_path / "cot_legal", [
        item("x", method="cot-self-instruct", weak_scores=[0.0, 0.0]),
        item("y", method="cot-self-instruct", weak_scores=[0.5, 0.5]),
    ], ratings={"x": {"grpo_suitability": "low", "verdict": "improve"}})  # fmt: skip
    cs = write_run(tmp_path / "cs", [item("z")], task="cs-research")
    return agentic, baseline, cs


def test_spread_suitability_and_capabilities_match_hand_computed_values(runs):
    agentic, baseline = legal_reports(build_report(list(runs)))  # the cs-research run gets no legal section
    # x: stored std 0.1; y: pstdev(0, .5, 1) = 0.408248...; mean in points.
    assert agentic.weak_spread == pytest.approx(100 * (0.1 + 0.4082483) / 2)
    assert (agentic.share("high"), agentic.share("medium"), agentic.share("low")) == (50.0, 50.0, 0.0)
    assert agentic.question_chars == (9 + 2) / 2 and agentic.criteria_per_item == 2.5
    caps = [(a.capability, a.items, a.criteria, a.weak_pct, a.strong_pct, a.gap_pct) for a in agentic.capabilities]
    assert caps == [("rule", 2, 5, 20.0, 90.0, 70.0), ("remedy", 1, 2, 50.0, 100.0, 50.0)]

    assert baseline.method == "cot-self-instruct" and baseline.weak_spread == pytest.approx(0.0)
    assert baseline.share("low") == 100.0 and baseline.suitability["unrated"] == 1
    assert baseline.capabilities == []


def test_html_and_terminal_show_the_legal_tables(runs, tmp_path):
    report = build_report(list(runs))
    html = write_report(report, tmp_path / "out", report_sections()).read_text()
    assert 'id="legal-spread"' in html and 'id="legal-caps-0"' in html and "legal-caps-1" not in html
    assert "<td>25.4</td>" in html  # the agentic run's weak std in points
    titles = [table.title for table in legal_tables(report)]
    assert titles == ["Legal: weak-sample spread and GRPO suitability", "Capabilities of agentic_legal (weakest first)"]


def test_no_legal_runs_no_legal_section(runs, tmp_path):
    report = build_report([runs[2]])
    html = write_report(report, tmp_path / "o", report_sections()).read_text()
    assert legal_tables(report) == [] and "legal-spread" not in html

"""`autodata report`: numbers checked against values computed by hand from tests/fixtures/report/.

Fixtures (cs-research, same three documents a, b, c):
- agentic_cs: a accepted in round 1 (weak .25, strong .75), b accepted in round 3 (.40, .90), c exhausted
  after rounds failed_quality_check, too_easy, too_easy; b's rounds 1-2 were too_easy, failed_on_strong.
- cot_cs: three kept items, a meets the policy (.30, .80), b too easy (.70, .75), c failed on strong (.20, .35).
- cot_science: p1 meets the policy, p2 too easy, p3 dropped by the answer-consistency filter.
The HTML is checked by parsing it with html.parser (tables by id, embedded images decoded).
"""

from __future__ import annotations

import base64
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodata.report.tables import ReportError, build_report, eval_rows, summarize
from autodata.report.html import write_report
from autodata.engine.rundir import load_run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
AGENTIC, COT, SCIENCE = FIXTURES / "agentic_cs", FIXTURES / "cot_cs", FIXTURES / "cot_science"
EVALS = [FIXTURES / "eval_before.json", FIXTURES / "eval_after.json"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_agentic_run_numbers():
    s = summarize(load_run(AGENTIC))
    assert (s.method, s.task, s.family) == ("agentic-self-instruct", "cs-research", "rubric")
    assert (s.documents, s.items) == (3, 2)
    assert s.weak_avg == pytest.approx((0.25 + 0.40) / 2)
    assert s.strong_avg == pytest.approx((0.75 + 0.90) / 2)
    assert s.gap == pytest.approx(0.5)
    assert s.meets_policy == 2 and s.meets_policy_fraction == 1.0 and s.policy_yield == pytest.approx(2 / 3)
    assert s.rounds_per_accepted == {1: 1, 3: 1} and s.mean_rounds_per_accepted == 2.0
    assert s.rejections_by_round == {
        1: {"too_easy": 1, "failed_quality_check": 1},
        2: {"failed_on_strong": 1, "too_easy": 1},
        3: {"too_easy": 1},
    }
    # Judge calls 8 + 20 + 8 over 2 accepted items; judge tokens (880 + 2200 + 880) / 2.
    assert s.per_accepted("judge", "calls") == 18.0 and s.per_accepted("judge", "tokens") == 1980.0
    assert s.per_accepted("orchestrator", "calls") == 2.5
    assert s.total_per_accepted("calls") == 93 / 2 and s.total_per_accepted("tokens") == 9410 / 2
    assert s.pass_counts == {}  # rubric task


def test_baseline_run_numbers():
    s = summarize(load_run(COT))
    assert (s.method, s.documents, s.items, s.meets_policy, s.dropped) == ("cot-self-instruct", 3, 3, 1, 0)
    assert s.weak_avg == pytest.approx(0.4) and s.strong_avg == pytest.approx((0.80 + 0.75 + 0.35) / 3)
    assert s.gap == pytest.approx(1.9 / 3 - 0.4)
    assert s.meets_policy_fraction == pytest.approx(1 / 3)
    assert s.rounds_per_accepted == {1: 1}
    assert s.rejections_by_round == {1: {"too_easy": 1, "failed_on_strong": 1}}
    assert s.per_accepted("judge", "calls") == 24 and s.total_per_accepted("tokens") == 6750


def test_verifiable_baseline_pass_counts_and_drops():
    s = summarize(load_run(SCIENCE))
    assert (s.documents, s.items, s.meets_policy, s.dropped) == (3, 2, 1, 1)
    assert s.pass_counts["weak"] == {1: 1, 2: 1} and s.pass_counts["strong"] == {3: 1, 4: 1}
    assert s.rejections_by_round == {1: {"too_easy": 1, "failed_quality_check": 1}}
    assert s.per_accepted("strong", "calls") == 8 + 8 + 4  # the dropped item's filter samples count too


def test_runs_are_compared_per_task_on_shared_documents(tmp_path):
    report = build_report([AGENTIC, COT, SCIENCE])
    [comparison] = report.comparisons  # science has a single run: nothing to compare it with
    assert comparison.task == "cs-research" and comparison.all_same and comparison.shared == {"a", "b", "c"}

    partial = tmp_path / "cot_ab"
    shutil.copytree(COT, partial)
    for name in ("items.jsonl", "trajectories.jsonl"):
        lines = (partial / name).read_text().splitlines(keepends=True)
        (partial / name).write_text("".join(lines[:2]))  # drop document c
    [comparison] = build_report([AGENTIC, partial]).comparisons
    assert not comparison.all_same and comparison.shared == {"a", "b"}
    agentic, cot = comparison.summaries
    assert (agentic.documents, agentic.items, cot.items) == (2, 2, 2)
    assert cot.weak_avg == pytest.approx(0.5) and cot.strong_avg == pytest.approx(0.775)


def test_eval_before_and_after():
    report = build_report([AGENTIC], EVALS)
    rows = {row["task"]: row for row in eval_rows(report.evals)}
    assert set(rows) == {"cs-research", "overall"}
    assert rows["cs-research"]["delta"] == pytest.approx(
        {"mean_at_k": 0.15, "best_at_k": 0.10, "truncation_rate": -0.05}
    )


def test_unusable_inputs_are_reported_clearly(tmp_path):
    with pytest.raises(ReportError, match="not a run directory"):
        build_report([tmp_path])
    with pytest.raises(ReportError, match="run directory not found"):
        build_report([tmp_path / "missing"])
    bad = tmp_path / "eval.json"
    bad.write_text('{"model": "m"}')
    with pytest.raises(ReportError, match="not an `autodata eval` result"):
        build_report([AGENTIC], [bad])


class ReportHTML(HTMLParser):
    """Collects every table (by id) as rows of cell texts, and every image's id and src."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images[attrs["id"]] = attrs["src"]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_report(path: Path) -> ReportHTML:
    parser = ReportHTML()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_html_renders_the_tables_and_embeds_every_plot(tmp_path):
    target = write_report(build_report([AGENTIC, COT, SCIENCE], EVALS), tmp_path / "out")
    html = parse_report(target)
    header, *rows = html.tables["main"]
    assert header[:9] == ["run", "method", "task", "documents", "items", "weak avg", "strong avg", "gap",
                          "meets policy"]  # fmt: skip
    assert rows == [
        ["agentic_cs", "agentic-self-instruct", "cs-research", "3", "2", "0.325", "0.825", "0.500", "1.000 (2/2)",
         "0.667", "2.00", "0"],
        ["cot_cs", "cot-self-instruct", "cs-research", "3", "3", "0.400", "0.633", "0.233", "0.333 (1/3)",
         "0.333", "1.00", "0"],
        ["cot_science", "cot-self-instruct", "science", "3", "2", "0.375", "0.875", "0.500", "0.500 (1/2)",
         "0.333", "1.00", "1"],
    ]  # fmt: skip
    comparison = {row[0]: row[1:] for row in html.tables["comparison-cs-research"]}
    assert comparison["metric"] == ["agentic_cs", "cot_cs"]
    assert comparison["gap"] == ["0.500", "0.233"] and comparison["tokens per accepted item"] == ["4705", "6750"]
    assert ["agentic_cs", "2", "1", "1", "0", "0"] in html.tables["rejections"]
    assert ["cot_science", "strong", "0", "0", "0", "1", "1"] in html.tables["pass-counts"]
    assert html.tables["eval"][1][:2] == ["cs-research", "2"] and "+0.150" in html.tables["eval"][1]

    written = {p.name for p in target.parent.glob("*.png")}
    assert written == set(html.images) == {
        "scores.png", "rounds_per_accepted.png", "rejections_per_round.png", "tokens_per_accepted.png",
        "pass_counts.png", "eval.png",
    }  # fmt: skip
    for name, src in html.images.items():
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        png = base64.b64decode(src[len(prefix) :])
        assert png.startswith(PNG_SIGNATURE) and png == (target.parent / name).read_bytes()


def test_report_command_prints_the_main_table_and_writes_the_files(tmp_path):
    from autodata.cli import app

    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(AGENTIC), str(COT), "--out", str(out)], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "cot_cs" in line)
    assert [cell.strip() for cell in header.split("┃") if cell.strip()] == ["agentic_cs", "cot_cs"]
    rows = {}
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) == 3:
            rows[cells[0]] = cells[1:]
    # The cot_cs column (runs are columns in the terminal), checked against the fixture's hand-computed values.
    assert {metric: values[1] for metric, values in rows.items()} == {
        "method": "cot-self-instruct", "task": "cs-research", "documents": "3", "items": "3", "weak avg": "0.400",
        "strong avg": "0.633", "gap": "0.233", "meets policy": "0.333 (1/3)", "policy items/doc": "0.333",
        "rounds/accepted": "1.00", "dropped": "0",
    }  # fmt: skip
    assert (out / "report.html").exists() and (out / "scores.png").exists()


def test_report_command_fails_cleanly_on_a_missing_run(tmp_path):
    from autodata.cli import app

    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "run directory not found" in result.output


def test_a_reviewed_run_gets_a_review_table_counting_decisions_and_reasons(tmp_path):
    from autodata.cli import app
    from autodata.engine.reviews import ReviewLog
    from autodata.engine.rundir import append_jsonl

    reviewed = tmp_path / "agentic_reviewed"
    shutil.copytree(AGENTIC, reviewed)
    log = ReviewLog(reviewed)
    rows = [("a", "p1", {"decision": "approve"}), ("b", "p1", {"decision": "reject", "reason": "too vague"}),
            ("b", "p2", {"decision": "edit", "edits": {"question": "Q?"}}),
            ("c", "p1", {"decision": "reject", "reason": "too vague"}),
            ("c", "p1", {"decision": "approve"}),  # a second decision on one pause: not counted
            ("c", "p9", {"decision": "reject", "reason": "never applied"})]  # fmt: skip
    for item, pause, decision in rows:
        append_jsonl(log.reviews_path, {"id": item, "pause_id": pause, **decision})
    log.note_ignored("c", "p9", "the thread had already moved past this pause; not applied")

    report = build_report([AGENTIC, reviewed])
    (counts,) = report.reviews  # the unreviewed run has none
    assert (counts.run, counts.approved, counts.edited, counts.rejected) == ("agentic_reviewed", 1, 1, 2)
    assert counts.reasons == {"too vague": 2}
    result = CliRunner().invoke(app, ["report", str(reviewed), "--out", str(tmp_path / "r")], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    review_row = next(line for line in result.output.splitlines() if line.startswith("│ agentic_reviewed"))
    assert [cell.strip() for cell in review_row.split("│") if cell.strip()] == [
        "agentic_reviewed", "1", "1", "2", "too vague (2)"
    ]  # fmt: skip
    page = (tmp_path / "r" / "report.html").read_text()
    assert '<table id="review">' in page and "<td>too vague (2)</td>" in page

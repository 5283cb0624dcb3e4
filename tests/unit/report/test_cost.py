"""`autodata report`'s cost section: USD per role, per document and per accepted item under the prices a run's
config.json recorded (fixture: tests/fixtures/report/agentic_cs, 9,410 tokens, 3 documents, 2 accepted)."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autodata.report.tables import build_report, summarize
from autodata.report.html import write_report
from autodata.engine.rundir import load_run
from autodata.state.schemas import ROLES

AGENTIC = Path(__file__).resolve().parents[2] / "fixtures" / "report" / "agentic_cs"


def priced_copy(tmp_path: Path, price: float | None) -> Path:
    run = tmp_path / "agentic_cs"
    shutil.copytree(AGENTIC, run)
    config = json.loads((run / "config.json").read_text())
    roles = {role: {"price_input": price, "price_cached_input": None, "price_output": price} for role in ROLES}
    config["settings"] = {"roles": roles}
    (run / "config.json").write_text(json.dumps(config))
    return run


class CostTable(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._inside = dict(attrs).get("id") == "cost"
        elif tag == "tr" and self._inside:
            self.rows.append([])

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False

    def handle_data(self, data):
        if self._inside and self.rows and data.strip():
            self.rows[-1].append(data.strip())


def test_cost_per_document_and_accepted_item_under_the_recorded_prices(tmp_path):
    # USD 1 per million tokens, every role: 9,410 tokens cost $0.00941.
    summary = summarize(load_run(priced_copy(tmp_path, 1.0)))
    assert summary.cost.total == pytest.approx(0.00941)
    assert summary.cost.per_document == pytest.approx(0.00941 / 3)
    assert summary.cost.per_accepted_item == pytest.approx(0.00941 / 2)
    assert summary.cost.roles["judge"] == pytest.approx((880 + 2200 + 880) / 1e6)

    target = write_report(build_report([tmp_path / "agentic_cs"]), tmp_path / "report")
    parser = CostTable()
    parser.feed(target.read_text())
    assert ["agentic_cs", "all roles", "$0.0094", "$0.0047", "–"] in parser.rows


def test_without_prices_the_cost_is_unknown_not_zero(tmp_path):
    summary = summarize(load_run(priced_copy(tmp_path, None)))
    assert summary.cost.total is None and summary.cost.per_accepted_item is None
    assert summarize(load_run(AGENTIC)).cost.total is None  # a run directory from before prices existed

"""`autodata annotate`: stratified discovery, consolidation, one type per item, parse failures counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodata.report.annotate import (
    AnnotateError,
    AnnotateOptions,
    annotate_run,
    stratified_sample,
)
from autodata.report.tables import build_report, type_distribution
from autodata.report.html import write_report
from tests.support.scripted import last_user_text, scripted_provider
from tests.unit.report.test_tables import parse_report

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"

PROPOSALS = {"types": [{"name": "Mechanism", "description": "Why or how something works."},
                       {"name": "derivation", "description": "Derive a result."}]}  # fmt: skip
TAXONOMY = {"types": [
    {"name": "Mechanism", "description": "Explain why or how a method works."},
    {"name": "Derivation", "description": "Derive or compute a stated result."},
    {"name": " mechanism ", "description": "A duplicate the consolidation must not keep twice."},
]}  # fmt: skip


class AnnotatorScript:
    """Discovery -> proposals, consolidation -> taxonomy, classification by keyword; one item unparseable."""

    def __init__(self, discover_fails: bool = False, empty_proposals: int = 0) -> None:
        self.discover_fails = discover_fails
        self.empty_proposals = empty_proposals
        self.calls: list[tuple[str, str]] = []

    def __call__(self, role, messages, tool):
        system, user = str(messages[0].content), last_user_text(messages)
        phase = "discover" if "Propose up to" in system else "consolidate" if "Merge them" in system else "classify"
        self.calls.append((role, phase))
        if phase == "discover":
            if self.discover_fails:
                raise ConnectionError("connection refused")
            if self.empty_proposals:
                self.empty_proposals -= 1
                return {"types": []}
            return PROPOSALS
        if phase == "consolidate":
            return TAXONOMY
        if "What does the paper propose?" in user:
            return {"type": "Summary"}  # not in the taxonomy: re-asked, then counted as a parse failure
        return {"type": "Derivation" if "Derive" in user else "Mechanism"}


def copy_run(tmp_path: Path, name: str = "cot_cs") -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def test_stratified_sample_takes_an_equal_share_of_each_challenge_band():
    items = [{"id": str(i), "weak_avg": 0.0, "strong_avg": i / 10} for i in range(9)]
    sample = stratified_sample(items, size=6, strata=3, seed=1)
    by_band: dict[int, list[float]] = {}
    for band, item in sample:
        by_band.setdefault(band, []).append(item["strong_avg"])
    assert {band: len(v) for band, v in by_band.items()} == {0: 2, 1: 2, 2: 2}
    assert max(by_band[0]) < min(by_band[1]) and max(by_band[1]) < min(by_band[2])
    assert stratified_sample(items, 6, 3, seed=1) == sample  # deterministic for a seed
    assert len(stratified_sample(items[:2], size=6, strata=3, seed=0)) == 2  # small runs: everything


async def test_annotate_classifies_every_item_once_and_counts_parse_failures(tmp_path):
    run = copy_run(tmp_path)
    script = AnnotatorScript()
    provider = scripted_provider(script)
    annotation = await annotate_run(run, provider, AnnotateOptions(sample_size=3))

    assert [t.name for t in annotation.types] == ["Mechanism", "Derivation", "Other"]
    written = json.loads((run / "annotations.json").read_text())
    assert written["assignments"] == {"id-a": "Mechanism", "id-b": None, "id-c": "Derivation"}
    assert written["counts"] == {"Mechanism": 1, "Derivation": 1, "Other": 0}
    assert written["failures"] == {"discover": 0, "classify_parse": 1, "classify_call": 0}
    assert written["unclassified"][0]["id"] == "id-b"
    assert written["role"] == "orchestrator" and written["model"] == "embedded"
    assert sorted(entry["stratum"] for entry in written["sample"]) == [0, 1, 2]
    # One discovery batch, one consolidation, one classification per item (+ re-asks for the bad one).
    retries = provider.config("orchestrator").parse_retries
    phases = [phase for _, phase in script.calls]
    assert (phases.count("discover"), phases.count("consolidate"), phases.count("classify")) == (1, 1, 3 + retries)
    assert {role for role, _ in script.calls} == {"orchestrator"}
    assert written["usage"]["calls"] == len(script.calls)
    assert type_distribution(written) == [("Mechanism", 1), ("Derivation", 1), ("Other", 0), ("unclassified", 1)]


async def test_the_annotating_role_is_configurable(tmp_path):
    script = AnnotatorScript()
    await annotate_run(copy_run(tmp_path), scripted_provider(script), AnnotateOptions(role="judge"))
    assert {role for role, _ in script.calls} == {"judge"}


async def test_failed_discovery_is_an_error_not_an_empty_taxonomy(tmp_path):
    run = copy_run(tmp_path)
    with pytest.raises(AnnotateError, match="discovery produced no question types.*connection refused"):
        await annotate_run(run, scripted_provider(AnnotatorScript(discover_fails=True)), AnnotateOptions())
    assert not (run / "annotations.json").exists()


async def test_an_empty_proposal_is_re_asked(tmp_path):
    script = AnnotatorScript(empty_proposals=1)
    annotation = await annotate_run(copy_run(tmp_path), scripted_provider(script), AnnotateOptions())
    assert [phase for _, phase in script.calls].count("discover") == 2
    assert annotation.failures["discover"] == 0 and len(annotation.types) == 3


async def test_report_shows_the_question_type_distribution(tmp_path):
    run = copy_run(tmp_path)
    await annotate_run(run, scripted_provider(AnnotatorScript()), AnnotateOptions())
    target = write_report(build_report([run]), tmp_path / "out")
    html = parse_report(target)
    assert html.tables["types-cot_cs"][1:] == [
        ["Mechanism", "1", "0.333"], ["Derivation", "1", "0.333"], ["Other", "0", "0.000"],
        ["unclassified", "1", "0.333"],
    ]  # fmt: skip
    assert "question_types.png" in html.images and (target.parent / "question_types.png").exists()
    assert "1 parse failures" in target.read_text()


def test_annotate_command_and_report_annotate_flag(tmp_path, monkeypatch):
    from autodata.cli import app
    from autodata.commands import report as report_command

    script = AnnotatorScript()
    monkeypatch.setattr(report_command, "set_up_provider", lambda config: scripted_provider(script))
    run = copy_run(tmp_path)
    result = CliRunner().invoke(app, ["annotate", str(run), "--role", "strong"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2 of 3 items classified; 1 parse failure(s)" in result.output
    assert json.loads((run / "annotations.json").read_text())["role"] == "strong"

    result = CliRunner().invoke(app, ["annotate", str(run), "--role", "boss"])
    assert result.exit_code == 2 and "unknown role 'boss'" in result.output

    (run / "annotations.json").unlink()
    result = CliRunner().invoke(app, ["report", str(run), "--annotate", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (run / "annotations.json").exists() and (tmp_path / "r" / "question_types.png").exists()

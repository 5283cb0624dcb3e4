"""`autodata optimize` and `autodata prompts promote` through the real Typer app, models scripted."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.commands import optimize as optimize_command
from autodata.prompting.library import PromptLibrary
from tests.support.meta_script import HARDER, MetaScript, meta_context, meta_provider

runner = CliRunner()


@pytest.fixture
def optimized(tmp_path, monkeypatch):
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(MetaScript()))
    ctx = meta_context(tmp_path)
    result = runner.invoke(app, [
        "optimize", "--task", "cs-research", "--train", ctx.train, "--val", ctx.val, "--out", ctx.run_dir,
        "--iterations", "1", "--samples", "2", "--rounds", "1", "--minibatch", "2",
    ], env={"COLUMNS": "240"})  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / "run", result.output


def test_optimize_command_writes_versions_history_and_plot(optimized):
    run_dir, output = optimized
    # Two validation repeats each (the default): a steady improvement beats a spread of 0.
    assert "iteration 1: parent v0000 0+0/2 -> child v0001 2+2/2 (means 0.00 -> 1.00, spread 0.00) kept" in output
    assert "best: v0001 (1.00)" in output
    assert {p.name for p in run_dir.iterdir()} >= {"versions", "history.jsonl", "pass_rate.png", "checkpoints.sqlite"}
    assert json.loads((run_dir / "versions" / "v0001" / "scores.json").read_text())["status"] == "kept"


def test_promote_copies_a_version_for_generate(optimized, tmp_path):
    run_dir, _ = optimized
    target = tmp_path / "promoted"
    result = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0001", "--to", str(target)])
    assert result.exit_code == 0, result.output
    assert HARDER in PromptLibrary(target).text("challenger_cs-research")
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in (run_dir / "versions" / "v0001").glob("*.md"))

    # A different version over it needs --force; an unknown version is an error.
    clash = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0000", "--to", str(target)])
    assert clash.exit_code == 2 and "--force" in clash.output
    forced = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0000", "--to", str(target), "--force"])
    assert forced.exit_code == 0 and HARDER not in PromptLibrary(target).text("challenger_cs-research")
    missing = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0042", "--to", str(target)])
    assert missing.exit_code == 2 and "no version 'v0042'" in missing.output


def test_optimize_rejects_unknown_task_and_missing_sources(tmp_path):
    bad_task = runner.invoke(app, ["optimize", "--task", "poetry", "--train", ".", "--val", ".", "--out", str(tmp_path)])
    assert bad_task.exit_code == 2 and "unknown task" in bad_task.output
    missing = runner.invoke(app, [
        "optimize", "--task", "legal", "--train", str(tmp_path / "nope"), "--val", ".", "--out", str(tmp_path / "r"),
    ])  # fmt: skip
    assert missing.exit_code == 2 and "--train path does not exist" in missing.output

"""`autodata optimize --sources DIR` and the issue-16 options through the real Typer app, models scripted."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from autodata.cli import app
from autodata.commands import optimize as optimize_command
from tests.support.meta_script import MetaScript, meta_provider, write_corpus

runner = CliRunner()


def test_optimize_splits_one_corpus_and_reports_test_beside_validation(tmp_path, monkeypatch):
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(MetaScript()))
    sources = write_corpus(tmp_path / "corpus", ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "optimize", "--task", "cs-research", "--sources", str(sources), "--split", "0.5/0.25", "--out", str(out),
        "--iterations", "1", "--samples", "2", "--rounds", "1", "--minibatch", "2", "--selection", "pareto",
        "--preset", "meta", "--max-calls", "100000",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "test split: best v0001 1.00 (validation 1.00), root 0.00 (validation 0.00)" in result.output
    splits = json.loads((out / "splits.json").read_text())
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [3, 1, 2]
    options = json.loads((out / "optimize.json").read_text())
    assert options["policy_preset"] == "meta" and options["train_size"] == 0.5
    config = json.loads(next((out / "evals").glob("i0000-validation-*/config.json")).read_text())
    assert '"preset": "meta"' in json.dumps(config)


def test_optimize_needs_sources_or_train_and_val(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", ["alpha", "beta"])
    both = runner.invoke(app, ["optimize", "--task", "cs-research", "--sources", str(corpus), "--train", str(corpus),
                               "--out", str(tmp_path / "r1")])  # fmt: skip
    assert both.exit_code == 2 and "either --sources" in both.output
    neither = runner.invoke(app, ["optimize", "--task", "cs-research", "--train", str(corpus),
                                  "--out", str(tmp_path / "r2")])  # fmt: skip
    assert neither.exit_code == 2 and "both --train and --val" in neither.output
    bad_split = runner.invoke(app, ["optimize", "--task", "cs-research", "--sources", str(corpus), "--split", "50",
                                    "--out", str(tmp_path / "r3")])  # fmt: skip
    assert bad_split.exit_code == 2 and "TRAIN/VAL" in bad_split.output
    bad_selection = runner.invoke(app, ["optimize", "--task", "cs-research", "--sources", str(corpus),
                                        "--selection", "greedy", "--out", str(tmp_path / "r4")])  # fmt: skip
    assert bad_selection.exit_code == 2 and "boltzmann, pareto" in bad_selection.output

"""`autodata optimize` is not fooled by noise, through the real Typer app with scripted models: parent and child
are validated several times on the same documents with recorded seeds, a child whose gain is within the spread
between repeats is discarded, the method's defaults (meta preset, the task's sample counts) reach every
evaluation and are recorded, and the analyzer reads every round, condensed rather than left out."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from autodata.cli import app
from autodata.commands import optimize as optimize_command
from tests.support.graph_script import rubric_item
from tests.support.meta_script import HARDER, MetaScript, meta_provider, write_corpus

runner = CliRunner()


class NoisyChild(MetaScript):
    """The child's prompt (HARDER) yields an acceptable item on the validation paper only the first time it is
    asked: one of its two repeats passes, the other fails, whatever order they run in."""

    validation_calls: int = 0

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        if role == "challenger" and HARDER in str(messages[0].content) and "omega" in str(messages[-1].content):
            self.calls.setdefault(role, []).append(str(messages[-1].content))
            self.validation_calls += 1
            hard = self.validation_calls == 1
            return rubric_item("Why does omega need two reasoning steps?" if hard else "An easy recall question?")
        return super().__call__(role, messages, tool)


def test_a_child_whose_gain_is_within_the_noise_is_discarded_and_the_decision_recorded(tmp_path, monkeypatch):
    script = NoisyChild()
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(script))
    train = write_corpus(tmp_path / "train", ["alpha", "beta"])
    val = write_corpus(tmp_path / "val", ["omega"])
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "optimize", "--task", "cs-research", "--train", str(train), "--val", str(val), "--out", str(out),
        "--iterations", "1", "--rounds", "1", "--minibatch", "2", "--digest-tokens", "600",
    ], env={"COLUMNS": "240"})  # fmt: skip
    assert result.exit_code == 0, result.output

    # One repeat of the child passed, one failed: mean 0.5 against the parent's 0.0, within a spread of 1.0.
    assert "parent v0000 0+0/1 -> child v0001" in result.output and "(means 0.00 -> 0.50, spread 1.00)" in result.output
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    decision = history[1]["decision"]
    assert history[1]["status"] == "discarded"
    assert (decision["parent_mean"], decision["child_mean"], decision["spread"]) == (0.0, 0.5, 1.0)
    assert sorted(decision["child_rates"]) == [0.0, 1.0] and decision["seeds"] == [0, 1] and not decision["kept"]
    assert history[1]["val_pass_rate"] == 0.5 and history[1]["parent_val_pass_rate"] == 0.0
    assert [run["seed"] for run in history[1]["validation"]] == [0, 1]
    assert [run["seed"] for run in history[0]["validation"]] == [0, 1]  # the root was validated twice too

    # The same documents, the same seeds for parent and child, one directory per repeat.
    evals = sorted(p.name for p in (out / "evals").iterdir())
    assert {"i0001-validation-v0000", "i0001-validation-v0000-r1", "i0001-validation-v0001",
            "i0001-validation-v0001-r1"} <= set(evals)  # fmt: skip
    for name in ("i0001-validation-v0000-r1", "i0001-validation-v0001-r1"):
        config = json.loads((out / "evals" / name / "config.json").read_text())
        # The method's defaults: the meta preset and the task's own sample counts (3 + 3).
        assert config["seed"] == 1 and config["context"]["policy"]["preset"] == "meta"
        assert (config["context"]["weak_samples"], config["context"]["strong_samples"]) == (3, 3)
    options = json.loads((out / "optimize.json").read_text())
    assert (options["repeats"], options["policy_preset"], options["samples"], options["max_rounds"]) == (2, "meta",
                                                                                                          None, 1)
    assert options["digest_tokens"] == 600

    # Every minibatch round reached the analyzer, condensed to fit 600 tokens, and the digest says so.
    [analyzer] = script.calls["analyzer"]
    assert "Digest: all 2 rounds" in analyzer and "condensed to" in analyzer
    digest = analyzer.split("Trajectories:")[1]
    assert "== document alpha" in digest and "== document beta" in digest and "rounds are shown" in digest

"""`BaselineRunner` and `autodata baseline`: documents in, a run directory the report can read out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from autodata.engine.baseline_runner import BaselineOptions
from autodata.tasks.baselines import BaselineRunner
from autodata.engine.corpus import iter_documents
from autodata.report.tables import load_run, summarize
from autodata.engine.rundir import ITEM_COLUMNS, RunDirectory
from autodata.engine.records import RunStats
from tests.support.scripted import last_user_text, scripted_provider

PROBLEMS = [
    {"question": "What is 17 + 25?", "answer": "42"},  # consistent, hard for weak: meets the policy
    {"question": "What is 2 + 2?", "answer": "4"},  # consistent, but the weak solver gets it: too easy
    {"question": "What is 6 times 7?", "answer": "42"},  # the generated answer is wrong: dropped
]
GENERATED = {"17 + 25": ("What is 17 + 25?", "42"), "2 + 2": ("What is 2 + 2?", "4"),
             "6 times 7": ("What is 6 times 7?", "43")}  # fmt: skip
SOLUTIONS = {"What is 17 + 25?": ("7", "42"), "What is 2 + 2?": ("4", "4"), "What is 6 times 7?": ("40", "42")}


def science_script(role: str, messages, tool: str | None) -> Any:
    text = last_user_text(messages)
    if role == "challenger":
        question, answer = next(v for key, v in GENERATED.items() if key in text)
        return {"reasoning": "Change the numbers, then solve.", "question": question, "reference_answer": answer}
    if role == "quality_verifier":
        return {"passed": True, "reasons": []}
    weak, strong = SOLUTIONS[text.strip()]
    return f"Final answer: {strong if role == 'strong' else weak}"


def write_problems(path: Path) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS), encoding="utf-8")
    return path


async def test_cot_baseline_writes_a_run_directory_like_generate(tmp_path):
    sources = write_problems(tmp_path / "problems.jsonl")
    options = BaselineOptions(task="science", method="cot-self-instruct", consistency_samples=4, run_id="cot1")
    run_dir = RunDirectory(tmp_path / "cot1")
    provider = scripted_provider(science_script)
    stats = await BaselineRunner(options, provider, run_dir).run(iter_documents(sources, 6000))

    items = run_dir.items()
    assert [i["question"] for i in items] == ["What is 17 + 25?", "What is 2 + 2?"]
    assert all(set(ITEM_COLUMNS) <= set(i) and i["method"] == "cot-self-instruct" for i in items)
    assert items[0]["weak_scores"] == [0.0] * 4 and items[0]["strong_scores"] == [1.0] * 4

    trajectories = list(run_dir.trajectories())
    assert [t["status"] for t in trajectories] == ["kept", "kept", "dropped"]
    assert [t["meets_policy"] for t in trajectories] == [True, False, False]
    assert trajectories[2]["consistency"] == {"samples": 4, "majority_answer": "42", "majority_votes": 4,
                                              "self_consistent": True, "agrees": False}  # fmt: skip
    assert trajectories[0]["reasoning"] == "Change the numbers, then solve."

    written = json.loads(run_dir.file("stats.json").read_text())
    assert set(RunStats(task="science").as_dict()) <= set(written)
    assert written["method"] == "cot-self-instruct"
    assert (written["documents"], written["accepted"], written["kept"], written["meets_policy"]) == (3, 2, 2, 1)
    assert written["dropped_inconsistent"] == 1 and written["meets_policy_fraction"] == 0.5
    assert written["rejection_reasons"] == {"too_easy": 1, "failed_quality_check": 1}
    # Strong calls: K = 4 consistency samples for each of 3 items, plus k = 4 scoring samples for 2 kept items.
    assert written["usage"]["strong"]["calls"] == 4 * 3 + 4 * 2 == stats.usage["strong"].calls
    assert json.loads(run_dir.file("config.json").read_text())["method"] == "cot-self-instruct"
    assert (run_dir.file("dataset") / "dataset_info.json").exists()

    summary = summarize(load_run(run_dir.path))
    assert (summary.documents, summary.items, summary.meets_policy, summary.dropped) == (3, 2, 1, 1)
    assert summary.pass_counts["weak"] == {0: 1, 4: 1} and summary.pass_counts["strong"] == {4: 2}


def test_baseline_command_runs_self_instruct(tmp_path, monkeypatch):
    import autodata.llm.models
    from autodata.cli import app  # imported first: the served graphs it loads are built with the real provider

    monkeypatch.setattr(autodata.llm.models, "ModelProvider", lambda settings: scripted_provider(science_script))

    out = tmp_path / "si1"
    sources = write_problems(tmp_path / "problems.jsonl")
    result = CliRunner().invoke(
        app, ["baseline", "--method", "self-instruct", "--task", "science", "--sources", str(sources),
              "--out", str(out), "--limit", "2"], env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 item(s) kept, 1 meet the acceptance policy, 0 dropped" in result.output
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == ["self-instruct", "self-instruct"]


def test_baseline_command_rejects_an_unknown_method(tmp_path):
    from autodata.cli import app

    result = CliRunner().invoke(
        app, ["baseline", "--method", "evol-instruct", "--task", "science", "--sources", str(tmp_path),
              "--out", str(tmp_path / "x")],
    )  # fmt: skip
    assert result.exit_code == 2 and "evol-instruct" in result.output


async def test_rerunning_a_finished_baseline_skips_its_documents(tmp_path):
    sources = write_problems(tmp_path / "problems.jsonl")
    options = BaselineOptions(task="science", method="cot-self-instruct")
    provider = scripted_provider(science_script)
    first = await BaselineRunner(options, provider, RunDirectory(tmp_path / "run")).run(iter_documents(sources, 99))
    calls = sum(len(m.calls) for m in provider._models.values())
    again = await BaselineRunner(options, provider, RunDirectory(tmp_path / "run")).run(iter_documents(sources, 99))
    assert sum(len(m.calls) for m in provider._models.values()) == calls  # no model call the second time
    assert again.resumed == 3 and again.as_dict()["kept"] == first.as_dict()["kept"] == 2
    assert again.meets_policy == 1 and again.dropped_inconsistent == 1
    assert len(RunDirectory(tmp_path / "run").items()) == 2


async def test_finished_checkpoints_revive_the_baseline_state(tmp_path, caplog):
    sources = write_problems(tmp_path / "problems.jsonl")
    options = BaselineOptions(task="science", method="cot-self-instruct")
    provider = scripted_provider(science_script)
    run = RunDirectory(tmp_path / "run")
    await BaselineRunner(options, provider, run).run(iter_documents(sources, 6000))
    calls = sum(len(m.calls) for m in provider._models.values())
    # A crash after the graphs finished but before any row was written: only the checkpoints remain.
    for name in ("items.jsonl", "trajectories.jsonl"):
        run.file(name).unlink()
    await BaselineRunner(options, provider, run).run(iter_documents(sources, 6000))
    assert sum(len(m.calls) for m in provider._models.values()) == calls
    trajectories = list(run.trajectories())
    assert [t["status"] for t in trajectories] == ["kept", "kept", "dropped"]
    assert trajectories[2]["consistency"]["majority_answer"] == "42"
    assert not [r for r in caplog.records if "allowlist" in r.getMessage() or "blocked" in r.getMessage().lower()]

"""`autodata generate --task science` runs the science graph: rows, trajectories, resume from checkpoints, and
the report's science section."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.corpus import iter_documents
from autodata.report.tables import build_report
from autodata.report.html import write_report
from autodata.tasks import report_sections
from autodata.tasks.science.report import science_checks
from autodata.engine.rundir import RunDirectory, load_run
from autodata.tasks.runner import GenerateOptions, Generator
from tests.support.science_script import ScienceScript, science_draft
from tests.support.scripted import scripted_provider


def problems(tmp_path, n: int = 3):
    source = tmp_path / "problems.jsonl"
    rows = [{"question": f"Which force acts in setup {i}?", "answer": "the Lorentz force", "dataset": "Physics"}
            for i in range(n)]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return source


def seed_question(prompt: str) -> str:
    return prompt.split("Problem: ")[1].splitlines()[0]


def per_seed_script(stall: "Stall | None" = None) -> ScienceScript:
    """Answers depend only on the seed (never on call order): reproducible across crashes and resumes.
    Setup 1 is too easy (weak right); the others are accepted on the first round."""

    def draft(rnd: int, index: int, prompt: str) -> dict:
        return science_draft(f"{seed_question(prompt).rstrip('?')}, variant {index} of round {rnd}?")

    def answer(role: str, question: str) -> str:
        if stall is not None and role == "strong" and stall.on in question:
            stall.entered.set()
            stall.release.wait(30)
        return "the Lorentz force" if role == "strong" or "setup 1" in question else "gravity"

    return ScienceScript(draft=draft, answer=answer)


class Stall:
    """Blocks the strong solver on one seed so the run can be cancelled mid-graph (like Ctrl-C)."""

    def __init__(self, on: str) -> None:
        self.on, self.entered, self.release = on, threading.Event(), threading.Event()


async def generate(tmp_path, source, script, run_name="run", concurrency=1):
    provider = scripted_provider(script)
    run_dir = RunDirectory(tmp_path / run_name)
    options = GenerateOptions(task="science", samples=4, max_rounds=1, concurrency=concurrency)
    generator = Generator(options, provider, run_dir)
    stats = await generator.run(iter_documents(source, max_chars=2000))
    return stats, run_dir, provider


async def test_generate_science_runs_the_science_graph_and_writes_its_rows(tmp_path):
    script = per_seed_script()
    stats, run_dir, _ = await generate(tmp_path, problems(tmp_path), script)
    assert (stats.documents, stats.accepted, stats.exhausted) == (3, 2, 1)
    assert stats.rejections == {"too_easy": 1}
    assert len(script.calls["challenger"]) == 12  # 4 parallel challengers per document
    item = run_dir.items()[0]
    assert item["family"] == "verifiable" and item["rubric"] == []
    assert item["question_type"] == "identify the law" and item["reasoning_skills"] == ["causal_reasoning", "multi_step"]
    assert item["weak_scores"] == [0.0] * 4 and item["strong_scores"] == [1.0] * 4
    assert (item["weak_correct"], item["strong_correct"], item["gap"]) == (0, 4, 1.0)
    # Strong answers match the reference word for word; the weak "gravity" is a phrase only the judge can check.
    assert item["decided_by"] == {"exact_match": 4, "judge": 4}
    trajectory = next(t for t in run_dir.trajectories() if t["status"] == "accepted")
    first = trajectory["rounds"][0]
    assert len(first["candidates"]) == 4 and {c["status"] for c in first["candidates"]} == {"selected", "screened_out"}
    assert {c["decided_by"] for c in first["checks"] if c["role"] == "weak"} == {"judge"}
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["context"]["candidates"] == 4 and config["context"]["evaluate_top"] == 2
    # The HF dataset export carries the science columns too.
    from datasets import load_from_disk

    row = load_from_disk(str(run_dir.file("dataset")))[0]
    assert row["question_type"] == "identify the law" and row["format_flags"] == []
    assert (row["weak_correct"], row["strong_correct"]) == (0, 4)
    assert json.loads(row["decided_by"]) == {"exact_match": 4, "judge": 4}


async def test_an_interrupted_science_run_resumes_from_its_checkpoint(tmp_path):
    source = problems(tmp_path)
    _, reference_dir, _ = await generate(tmp_path, source, per_seed_script(), run_name="reference")
    expected = sorted(item["id"] for item in reference_dir.items())

    stall = Stall(on="setup 2")
    interrupted = asyncio.create_task(generate(tmp_path, source, per_seed_script(stall)))
    while not stall.entered.is_set():
        await asyncio.sleep(0.01)
    interrupted.cancel()
    with pytest.raises(asyncio.CancelledError):
        await interrupted
    stall.release.set()

    stats, run_dir, provider = await generate(tmp_path, source, per_seed_script())
    assert sorted(item["id"] for item in run_dir.items()) == expected
    assert stats.resumed == 2 and stats.documents == 3 and stats.accepted == 2
    # Setup 2 continued from its checkpoint: its challengers did not run again.
    prompts = [c["messages"][-1].content for c in provider.chat_model("challenger").calls]
    assert prompts == []
    assert provider.chat_model("strong").calls  # the interrupted evaluation was finished


async def test_report_shows_who_decided_each_answer_and_correct_counts_per_candidate(tmp_path):
    _, run_dir, _ = await generate(tmp_path, problems(tmp_path), per_seed_script())
    checks = science_checks(load_run(run_dir.path))
    # 3 seeds x 2 evaluated candidates x (4 weak + 4 strong). Identical text: every strong sample (24) and the
    # weak samples of the too-easy setup 1 (8); the weak "gravity" (16) only the judge can check.
    assert dict(checks.deciders) == {"exact_match": 32, "judge": 16}
    assert checks.scored == 48 and checks.judge_share == pytest.approx(1 / 3)
    assert checks.correct_counts == {"weak": {0: 4, 4: 2}, "strong": {4: 6}}

    target = write_report(build_report([run_dir.path]), tmp_path / "report", report_sections())
    html = target.read_text()
    assert '<table id="science-deciders">' in html and '<table id="science-counts">' in html
    assert "<td>run</td><td>32</td><td>0</td><td>16</td><td>0</td><td>0</td><td>0.333</td>" in html
    assert "<td>run</td><td>weak</td><td>4</td><td>0</td><td>0</td><td>0</td><td>2</td>" in html

    result = CliRunner().invoke(app, ["report", str(run_dir.path), "--out", str(tmp_path / "r2")],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "0.333" in line)
    assert [cell.strip() for cell in row.split("│") if cell.strip()] == ["run", "32", "0", "16", "0", "0", "0.333"]


def test_runs_of_other_graphs_get_no_science_section(tmp_path):
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "report" / "cot_science"
    assert science_checks(load_run(fixture)) is None
    html = write_report(build_report([fixture]), tmp_path / "report", report_sections()).read_text()
    assert "science-deciders" not in html


async def test_the_toml_science_section_sets_the_graphs_knobs_for_science_runs_only(tmp_path):
    from autodata.commands.generate import GenerateJob, generate_options
    from autodata.llm.settings import load_settings
    from autodata.tasks import task_sections

    config = tmp_path / "autodata.toml"
    config.write_text("[science]\ncandidates = 3\nevaluate_top = 1\ngrounding_examples = 1\n")
    settings = load_settings(config, env={}, sections=task_sections())
    source = problems(tmp_path, n=1)
    options = generate_options(GenerateJob("science", source, tmp_path / "run", samples=2, rounds=1), settings)
    script = per_seed_script()
    provider = scripted_provider(script)
    run_dir = RunDirectory(tmp_path / "run")
    await Generator(options, provider, run_dir).run(iter_documents(source, max_chars=2000))
    assert len(script.calls["challenger"]) == 3 and len(script.calls["orchestrator"]) == 1  # the screen: 1 of 3
    (trajectory,) = run_dir.trajectories()
    assert {r["candidate"] for r in trajectory["rounds"][0]["results"]} == {0}
    context = json.loads(run_dir.file("config.json").read_text())["context"]
    assert (context["candidates"], context["evaluate_top"], context["grounding_examples"]) == (3, 1, 1)
    assert (context["weak_samples"], context["strong_samples"]) == (2, 2)
    other = generate_options(GenerateJob("legal", source, tmp_path / "legal"), settings)
    assert other.graph_settings == {}


async def test_an_endpoint_failure_fails_the_document_and_the_next_run_resumes_it_from_its_checkpoint(tmp_path):
    from autodata.llm.openai_compat import TransientEndpointError

    source = problems(tmp_path, n=1)
    down = per_seed_script()
    healthy_answer = down.answer

    def strong_down(role: str, question: str) -> str:
        if role == "strong":
            raise TransientEndpointError("cannot reach the strong endpoint: connection refused")
        return healthy_answer(role, question)

    down.answer = strong_down
    stats, run_dir, _ = await generate(tmp_path, source, down)
    assert (stats.failed, stats.documents) == (1, 0)  # not scored, not exhausted: failed, and left for a re-run
    assert [e["kind"] for e in run_dir.errors()] == ["failed"] and list(run_dir.trajectories()) == []

    stats, run_dir, provider = await generate(tmp_path, source, per_seed_script())
    assert (stats.failed, stats.accepted) == (0, 1) and list(run_dir.errors()) == []
    assert provider.chat_model("challenger").calls == []  # resumed after the drafts and the screen
    assert len(provider.chat_model("strong").calls) == 8  # the evaluation that stopped is run again

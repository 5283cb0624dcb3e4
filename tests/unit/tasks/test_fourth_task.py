"""A fourth task plugs in without engine edits: the glossary task (tests/support/fourth_task/: its own graph,
nodes, state, prompts and report section) is registered here and driven through the real CLI, `generate`,
`grade`, `report` and `optimize`, against the request-logging fake OpenAI server; the assertions read the run
directories and what the endpoint received (the task's own prompts rendered, its own sample counts).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.grading import read_grades
from autodata.prompting.library import USER_MARKER, PromptError, PromptLibrary
from autodata.tasks import TASKS, import_task_modules, register_task, task_sections, unregister_task
from tests.support import fourth_task
from tests.support.fake_openai import REPO_ROOT, FakeOpenAIServer, FakeRequest
from tests.support.meta_script import current_file

WRITER_OPENING = "You write glossary quiz entries."  # prompts/glossary_writer.md, the task's own folder
SOLVER_OPENING = "You are a glossary quiz contestant."  # prompts/glossary_solver.md
SHIPPED_SOLVERS = ("solver_rubric", "solver_verifiable", "solver_legal")
# A line the implementer adds to the writer prompt; the scripted writer then drafts hard entries at once.
HINT = "Define the term by what it does, never by its name (HARD-FIRST)."
DOCUMENTS = {
    "entropy": "# Entropy\n\nEntropy measures the average surprise of a random variable's outcomes.",
    "overfitting": "# Overfitting\n\nOverfitting is a model memorising its training data and failing on new data.",
    "dropout": "# Dropout\n\nDropout switches off random units during training so no unit can rely on another.",
    "momentum": "# Momentum\n\nMomentum keeps a running average of past gradients to smooth each update step.",
}


@pytest.fixture
def glossary() -> Iterator[None]:
    register_task(fourth_task.TASK)
    try:
        yield
    finally:
        unregister_task(fourth_task.NAME)


def message_text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def glossary_script(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
    """The glossary task's models. The writer drafts an easy entry unless its prompt asks for hard ones (HINT)
    or its last entry was rejected; the weak solver names the term of easy entries only, the strong one always;
    the answer judge sees only the answers the checker could not decide (a wrong term)."""
    text = message_text(messages)
    if role == "analyzer":
        return "Every first entry was too easy: the weak solver named each term."
    if role == "implementer":
        content = current_file(messages, "glossary_writer.md").replace(USER_MARKER, f"{HINT}\n{USER_MARKER}", 1)
        return {"summary": "Ask for hard entries first.", "edits": [{"file": "glossary_writer.md", "content": content}]}
    if tool == "GlossaryEntry":
        term = re.search(r"^Document: (.+)$", text, re.MULTILINE).group(1).strip()
        sentence = next(line for line in text.splitlines() if line.startswith(f"{term} "))
        hard = HINT in text or "was rejected" in text
        question = f"{'HARD ' if hard else ''}Which term is this: {sentence.removeprefix(term)}"
        return {"term": term, "question": f"{question} [{term}]", "reference_answer": term}
    if role in ("weak", "strong"):
        question = re.search(r"^Definition: (.+)$", text, re.MULTILINE).group(1)
        term = question.rsplit("[", 1)[1].rstrip("]")
        knows = role == "strong" or not question.startswith("HARD ")
        return f"Final answer: {term if knows else 'Perplexity'}"
    if tool == "AnswerMatch":  # the checker is undecided between two different words: the judge says no
        return {"equivalent": False, "reason": "another term"}
    raise AssertionError(f"the glossary task sends no {role} request ({tool})")


def write_documents(directory: Path, names: list[str]) -> Path:
    directory.mkdir(parents=True)
    for name in names:
        (directory / f"{name}.md").write_text(DOCUMENTS[name], encoding="utf-8")
    return directory


def invoke(server: FakeOpenAIServer, *args: str):
    env = server.settings_env(
        AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false", AUTODATA_ANALYZER_MODEL="analyzer",
        AUTODATA_IMPLEMENTER_MODEL="implementer",
    )  # fmt: skip
    return CliRunner().invoke(app, list(args), env=env)


def system_text(request: FakeRequest) -> str:
    return next((str(m.get("content")) for m in request.messages if m.get("role") == "system"), "")


def by_role(server: FakeOpenAIServer, *roles: str) -> list[FakeRequest]:
    return [r for r in server.requests if r.role in roles]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_generate_grade_and_report_run_the_fourth_task_with_its_own_prompts_and_counts(glossary, tmp_path):
    sources = write_documents(tmp_path / "docs", ["entropy", "overfitting"])
    config = tmp_path / "autodata.toml"
    config.write_text("[glossary]\nmax_answer_words = 2\n", encoding="utf-8")  # the task's own TOML section
    run = tmp_path / "glossary-run"
    with FakeOpenAIServer(glossary_script) as server:
        generated = invoke(server, "generate", "--task", "glossary", "--sources", str(sources), "--out", str(run),
                           "--rounds", "2", "--config", str(config))  # fmt: skip
        assert generated.exit_code == 0, generated.output
        generation = list(server.requests)
        graded = invoke(server, "grade", str(run), "--config", str(config))
        assert graded.exit_code == 0, graded.output
        grading = server.requests[len(generation) :]

    # generate: per document an easy round (too easy) and a hard one (accepted); 2 weak + 1 strong per round, and
    # the answer judge for each wrong (weak, hard round) answer the checker leaves undecided.
    assert Counter(r.role for r in generation) == {"challenger": 2 * 2, "weak": 2 * 2 * 2, "strong": 2 * 2 * 1,
                                                   "judge": 2 * 2}  # fmt: skip
    writers = [r for r in generation if r.role == "challenger"]
    assert all(system_text(r).startswith(WRITER_OPENING) and "at most 2 words" in system_text(r) for r in writers)
    solvers = [r for r in generation if r.role in ("weak", "strong")]
    assert all(system_text(r).startswith(SOLVER_OPENING) for r in solvers)
    config_json = json.loads((run / "config.json").read_text())
    assert config_json["task"] == "glossary" and config_json["context"]["max_answer_words"] == 2
    assert (config_json["context"]["weak_samples"], config_json["context"]["strong_samples"]) == (2, 1)
    read = ["glossary_writer", "glossary_solver", "judge_answer"]
    assert config_json["prompts_hash"] == PromptLibrary().fingerprint(read)
    items = jsonl(run / "items.jsonl")
    assert sorted(item["term"] for item in items) == ["Entropy", "Overfitting"]
    assert all(item["family"] == "verifiable" and item["question"].startswith("HARD ") for item in items)
    assert all(item["weak_scores"] == [0.0, 0.0] and item["strong_scores"] == [1.0] for item in items)
    trajectories = jsonl(run / "trajectories.jsonl")
    assert all([r["outcome"] for r in t["rounds"]] == ["too_easy", "accepted"] for t in trajectories)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["accepted"] == 2 and stats["rejection_rules"] == {"too_easy:weak_all_right": 2}
    assert "term" in json.loads((run / "dataset" / "dataset_info.json").read_text())["features"]

    # grade: the task's solver prompt and 2 + 1 fresh samples per item, checked as generation checked them.
    assert Counter(r.role for r in grading) == {"weak": 2 * 2, "strong": 2 * 1, "judge": 2 * 2}
    assert all(system_text(r).startswith(SOLVER_OPENING) for r in grading if r.role != "judge")
    shipped = [PromptLibrary().text(name).splitlines()[0] for name in SHIPPED_SOLVERS]
    assert not any(opening in system_text(r) for r in grading for opening in shipped)
    grades = read_grades(run)
    assert len(grades) == 2
    assert all(g["weak_scores"] == [0.0, 0.0] and g["strong_scores"] == [1.0] for g in grades.values())

    # report: the common tables and the task's own section.
    out = tmp_path / "report"
    reported = CliRunner().invoke(app, ["report", str(run), "--out", str(out)], env={"AUTODATA_NO_PROGRESS": "1"})
    assert reported.exit_code == 0, reported.output
    assert "Glossary: checked rounds" in reported.output
    html = (out / "report.html").read_text()
    assert "Glossary: checked rounds and accepted terms" in html and "Entropy, Overfitting" in html


def test_optimize_evaluates_the_fourth_tasks_graph_and_edits_only_its_writer_prompt(glossary, tmp_path):
    train = write_documents(tmp_path / "train", ["entropy", "overfitting"])
    val = write_documents(tmp_path / "val", ["dropout", "momentum"])
    out = tmp_path / "optimize"
    config = tmp_path / "autodata.toml"
    config.write_text("[glossary]\nmax_answer_words = 2\n", encoding="utf-8")
    with FakeOpenAIServer(glossary_script) as server:
        result = invoke(server, "optimize", "--task", "glossary", "--train", str(train), "--val", str(val),
                        "--out", str(out), "--iterations", "1", "--rounds", "1", "--minibatch", "2",
                        "--config", str(config))  # fmt: skip
    assert result.exit_code == 0, result.output
    # The root's first entries are too easy everywhere; the child's writer prompt asks for hard ones at once.
    outcome = json.loads((out / "result.json").read_text())
    assert (outcome["best_version"], outcome["root_validation"], outcome["best_validation"]) == ("v0001", 0.0, 1.0)
    child = json.loads((out / "versions" / "v0001" / "scores.json").read_text())
    assert child["status"] == "kept" and child["files_changed"] == ["glossary_writer.md"]

    writers = by_role(server, "challenger")
    assert writers and all(system_text(r).startswith(WRITER_OPENING) for r in writers)
    assert all("at most 2 words" in system_text(r) for r in writers)  # every evaluation read [glossary]
    assert any(HINT in system_text(r) for r in writers)  # the child version reached the task's own writer
    solvers = by_role(server, "weak", "strong")
    assert Counter(r.role for r in solvers) == {"weak": 2 * len(writers), "strong": 1 * len(writers)}
    assert all(system_text(r).startswith(SOLVER_OPENING) for r in solvers)

    [implementer] = by_role(server, "implementer")
    shown = "\n".join(str(m.get("content")) for m in implementer.messages)
    assert "=== glossary_writer.md ===" in shown and "=== glossary_solver.md ===" not in shown
    versions = out / "versions"
    assert sorted(p.name for p in (versions / "v0000").glob("*.md")) == [
        "glossary_solver.md", "glossary_writer.md", "judge_answer.md",
    ]  # fmt: skip
    assert (versions / "v0001" / "diff.patch").read_text().startswith("--- a/v0000/glossary_writer.md")
    frozen = (versions / "v0001" / "glossary_solver.md").read_bytes()
    assert frozen == (fourth_task.PROMPTS_DIR / "glossary_solver.md").read_bytes()


def test_registering_a_task_adds_its_prompt_folder_and_unregistering_removes_it():
    with pytest.raises(PromptError, match="no prompt file named glossary_writer.md"):
        PromptLibrary().path("glossary_writer")
    register_task(fourth_task.TASK)
    try:
        assert PromptLibrary().path("glossary_writer") == fourth_task.PROMPTS_DIR.resolve() / "glossary_writer.md"
        assert task_sections()["glossary"] is fourth_task.GLOSSARY_BATCH.context_type
    finally:
        unregister_task(fourth_task.NAME)
    with pytest.raises(PromptError):
        PromptLibrary().path("glossary_writer")


def test_the_task_modules_variable_registers_an_outside_task():
    assert import_task_modules("") == [] and "glossary" not in TASKS
    try:
        assert import_task_modules(" tests.support.fourth_task.plugin ,") == ["tests.support.fourth_task.plugin"]
        assert TASKS["glossary"] is fourth_task.TASK
    finally:
        unregister_task(fourth_task.NAME)
        sys.modules.pop("tests.support.fourth_task.plugin", None)  # importable again by the next test


def test_the_cli_in_a_fresh_process_sees_a_task_named_by_the_task_modules_variable(tmp_path):
    sources = write_documents(tmp_path / "docs", ["dropout"])
    run = tmp_path / "run"
    with FakeOpenAIServer(glossary_script) as server:
        env = {**os.environ, **server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false"),
               "AUTODATA_TASKS": "tests.support.fourth_task.plugin"}  # fmt: skip
        command = [sys.executable, "-m", "autodata.cli", "generate", "--task", "glossary", "--sources", str(sources),
                   "--out", str(run), "--rounds", "2"]  # fmt: skip
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [item] = jsonl(run / "items.jsonl")
    assert item["task"] == "glossary" and item["term"] == "Dropout"
    assert Counter(r.role for r in server.requests) == {"challenger": 2, "weak": 2 * 2, "strong": 2 * 1, "judge": 2}


def test_grade_baseline_and_optimize_check_the_registered_tasks_toml_sections(glossary, tmp_path):
    config = tmp_path / "autodata.toml"
    config.write_text("[glossary]\nmax_words = 2\n", encoding="utf-8")  # misspelt: the knob is max_answer_words
    run, sources = tmp_path / "run", write_documents(tmp_path / "docs", ["entropy"])
    run.mkdir()
    commands = {
        "grade": ["grade", str(run)],
        "baseline": ["baseline", "--method", "self-instruct", "--task", "glossary", "--sources", str(sources),
                     "--out", str(tmp_path / "baseline")],
        "optimize": ["optimize", "--task", "glossary", "--sources", str(sources), "--out", str(tmp_path / "opt")],
    }  # fmt: skip
    for name, args in commands.items():
        result = CliRunner().invoke(app, [*args, "--config", str(config)], env={"AUTODATA_NO_PROGRESS": "1"})
        assert result.exit_code == 2 and "[glossary]" in result.output and "max_words" in result.output, name

"""`autodata optimize --task legal|science` evaluates that task's own graph and edits that task's own prompts,
read from what the scripted models received, through the real Typer app."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from autodata.cli import app
from autodata.commands import optimize as optimize_command
from autodata.prompting.library import USER_MARKER, PromptLibrary
from tests.support.legal_script import LegalScript, judge, legal_item
from tests.support.meta_script import current_file, meta_provider, write_corpus
from tests.support.science_script import ScienceScript, science_draft

runner = CliRunner()
# A line the implementer adds to the task's item-writing prompt; the scripted writer reacts to it.
HINT = "Build every scenario on two interacting rules (TWO-RULES)."


def add_hint(messages: list[BaseMessage], file: str) -> dict[str, Any]:
    content = current_file(messages, file).replace(USER_MARKER, f"{USER_MARKER}\n{HINT}", 1)
    return {"summary": "Ask for two interacting rules.", "edits": [{"file": file, "content": content}]}


def first_line(prompt: str) -> str:
    return PromptLibrary(None).text(prompt).splitlines()[0]


@dataclass
class OptimizeLegal:
    """The legal graph's roles, with a writer that writes a harder item (accepted by the loop judge) once its
    prompt carries HINT, and an implementer that adds HINT to writer_legal.md."""

    inner: LegalScript = field(default_factory=LegalScript)
    calls: dict[str, list[str]] = field(default_factory=dict)

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        for key in {role, tool or role}:
            self.calls.setdefault(key, []).append(text)
        if role == "analyzer":
            return "The loop judge asked for an improvement every time: the scenarios apply one rule."
        if role == "implementer":
            return add_hint(messages, "writer_legal.md")
        if tool == "LegalItem":  # distinct per document, or the second item would be a near duplicate
            topic = re.search(r"^# (.+)$", text, re.MULTILINE).group(1)
            question = f"My landlord kept my deposit over {topic}. Can he?"
            return legal_item(f"TWO-RULES: {question}" if HINT in text else question)
        if tool == "LoopJudgeVerdict":
            return judge("accept") if "TWO-RULES:" in text else judge("improve", suggestion="Combine two rules.")
        return self.inner(role, messages, tool)


def run_optimize(tmp_path, monkeypatch, task: str, script: Any, train: list[str], val: list[str]) -> Any:
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(script))
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "optimize", "--task", task, "--train", str(write_corpus(tmp_path / "train", train)),
        "--val", str(write_corpus(tmp_path / "val", val)), "--out", str(out), "--iterations", "1", "--rounds", "1",
        "--minibatch", "2",
    ], env={"COLUMNS": "240"})  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


def test_optimize_legal_evaluates_the_legal_graph_and_edits_legal_prompts(tmp_path, monkeypatch):
    script = OptimizeLegal()
    out, output = run_optimize(tmp_path, monkeypatch, "legal", script, ["alpha", "beta"], ["gamma", "delta"])

    # Every evaluation ran the legal graph: extractor, writer, 5 weak + 3 strong answers per item, loop judge.
    writes = len(script.calls["LegalItem"])
    assert len(script.calls["LegalExtract"]) >= 2 and writes >= 2
    assert len(script.calls["LoopJudgeVerdict"]) == writes
    assert len(script.calls["weak"]) == 5 * writes and len(script.calls["strong"]) == 3 * writes
    assert all(first_line("solver_legal") in request for request in script.calls["weak"] + script.calls["strong"])
    assert "quality_verifier" not in script.calls  # the research-paper loop's quality gate never ran

    # The optimizer saw and edited the legal prompts only; the loop judge, solver and judge prompts are frozen.
    [implementer] = script.calls["implementer"]
    assert "=== writer_legal.md ===" in implementer and "=== extractor_legal.md ===" in implementer
    assert "=== loop_judge_legal.md ===" not in implementer and "loop_judge_legal.md" in implementer
    versions = out / "versions"
    assert sorted(p.name for p in (versions / "v0000").glob("*.md")) == [
        "extractor_legal.md", "judge_rubric.md", "loop_judge_legal.md", "solver_legal.md", "writer_legal.md",
    ]  # fmt: skip
    assert (versions / "v0001" / "diff.patch").read_text().startswith("--- a/v0000/writer_legal.md")

    # The analyzer read the legal rounds; the child's writer prompt reached the legal writer, and its items
    # passed where the root's did not.
    assert "outcome: improve" in script.calls["analyzer"][0] and "capability" in script.calls["analyzer"][0]
    assert any(HINT in request for request in script.calls["LegalItem"])
    assert "iteration 1: parent v0000 0+0/2 -> child v0001 2+2/2 (means 0.00 -> 1.00, spread 0.00) kept" in output


def test_optimize_science_evaluates_the_science_graph_and_edits_science_prompts(tmp_path, monkeypatch):
    science = ScienceScript(
        draft=lambda rnd, i, prompt: science_draft(f"Round {rnd} question {i}{' (two laws)' if HINT in prompt else ''}?")
    )

    screens: list[str] = []

    def script(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        if tool == "ScreenRanking":
            screens.append(str(messages[-1].content))
        if role == "analyzer":
            return "The drafts ask for a single named law."
        if role == "implementer":
            science.calls.setdefault("implementer", []).append(str(messages[-1].content))
            return add_hint(messages, "challenger_science.md")
        return science(role, messages, tool)

    out, _ = run_optimize(tmp_path, monkeypatch, "science", script, ["alpha", "beta"], ["gamma", "delta"])

    # The science graph: parallel challengers, a screen, and 4 weak + 4 strong answers per evaluated candidate.
    challengers = science.calls["challenger"]
    assert challengers and all("Your strategy:" in request for request in challengers)
    assert screens and len(challengers) == 4 * len(screens)  # four drafts per round, one screen
    weak, strong = len(science.calls["weak"]), len(science.calls["strong"])
    assert weak == strong and weak > 0 and weak % 4 == 0
    assert "quality_verifier" not in science.calls

    [implementer] = science.calls["implementer"]
    assert "=== challenger_science.md ===" in implementer and "=== solver_verifiable.md ===" not in implementer
    assert sorted(p.name for p in (out / "versions" / "v0000").glob("*.md")) == [
        "challenger_science.md", "diagnosis_science.md", "judge_answer.md", "screen_science.md",
        "solver_verifiable.md",
    ]  # fmt: skip
    assert (out / "versions" / "v0001" / "diff.patch").read_text().startswith("--- a/v0000/challenger_science.md")
    assert any("(two laws)" in request for request in science.calls["weak"])  # the child's drafts were solved

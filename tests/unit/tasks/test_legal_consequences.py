"""A legal item is answered the legal way everywhere: `grade`, `train`, `eval` and a legal baseline use the
lawyer's solver prompt and legal's 5 + 3 samples, and a legal baseline is filtered as the agentic legal set is.

Each test runs the real CLI against the request-logging fake OpenAI server and reads what the endpoint
received; the policy model of `eval` and the GRPO trainer of `train` are the only stand-ins.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.grading import read_grades
from autodata.prompting.library import PromptLibrary
from autodata.training.data import prompt_row
from tests.support.fake_openai import FakeOpenAIServer, FakeRequest
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.legal_script import LegalScript, legal_item
from tests.support.scripted import last_user_text

LAWYER = "You are an experienced lawyer"  # the opening of prompts/solver_legal.md
RESEARCHER = "You are answering a research question"  # the opening of prompts/solver_rubric.md
QUESTION = "My landlord kept my whole $2,400 deposit after I moved out in May. Can he?"


def legal_row(item_id: str, question: str = QUESTION) -> dict[str, Any]:
    """An items.jsonl row as `generate --task legal` writes it: a rubric, no reference answer."""
    return {"id": item_id, "task": "legal", "family": "rubric", "method": "agentic-self-instruct", "context": "",
            "reference_answer": "", **legal_item(question), "rounds": 2}  # fmt: skip


def legal_run(path: Path, rows: list[dict[str, Any]]) -> Path:
    # The config names the task and no sample counts, so the counts can only come from the task registry.
    path.mkdir(parents=True)
    (path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (path / "config.json").write_text(json.dumps({"task": "legal", "context": {"task": "legal"}}), encoding="utf-8")
    return path


def invoke(server: FakeOpenAIServer, *args: str):
    env = server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false")
    return CliRunner().invoke(app, list(args), env=env)


def system_text(request: FakeRequest) -> str:
    return next((str(m.get("content")) for m in request.messages if m.get("role") == "system"), "")


def solver_requests(server: FakeOpenAIServer) -> list[FakeRequest]:
    return [r for r in server.requests if r.role in ("weak", "strong")]


def test_grade_answers_legal_items_with_the_lawyer_prompt_and_five_plus_three_samples(tmp_path):
    run = legal_run(tmp_path / "legal1", [legal_row("l-1"), legal_row("l-2", "My employer cut my pay. Can she?")])
    with FakeOpenAIServer(LegalScript()) as server:
        result = invoke(server, "grade", str(run))
    assert result.exit_code == 0, result.output
    solvers = solver_requests(server)
    assert Counter(r.role for r in solvers) == {"weak": 2 * 5, "strong": 2 * 3}
    assert all(LAWYER in system_text(r) and RESEARCHER not in system_text(r) for r in solvers)
    assert Counter(r.role for r in server.requests)["judge"] == 2 * 8
    grades = read_grades(run)
    assert len(grades["l-1"]["weak_scores"]) == 5 and len(grades["l-1"]["strong_scores"]) == 3


def test_train_and_eval_put_legal_items_to_the_policy_through_the_lawyer_prompt(tmp_path, monkeypatch):
    from autodata.commands.train import task_solver

    row = prompt_row(legal_row("l-1"), PromptLibrary(), True, task_solver)
    assert LAWYER in row["prompt"][0]["content"] and QUESTION in row["prompt"][1]["content"]
    assert row["family"] == "rubric" and row["reference_answer"] == ""

    # `autodata train` hands the trainer the registry's lookup (what `to_dataset` renders each row with).
    import autodata.training.grpo as grpo

    handed: dict[str, Any] = {}

    def fake_train(source, recipe, out, **kwargs):
        handed.update(kwargs, items=len(grpo.require_items(source)))
        raise grpo.TrainingSetupError("stop here: only the wiring is under test")

    monkeypatch.setattr(grpo, "prepare_training_runtime", lambda: None)
    monkeypatch.setattr(grpo, "train", fake_train)
    run = legal_run(tmp_path / "legal1", [legal_row(f"l-{n}") for n in range(6)])
    with FakeOpenAIServer(LegalScript()) as server:
        result = invoke(server, "train", "--data", f"{run}/all", "--out", str(tmp_path / "model"))
    assert result.exit_code == 2 and "only the wiring" in result.output
    assert handed["items"] == 6 and handed["solvers"]("legal").prompt == "solver_legal"


@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("torch", "transformers", "trl", "accelerate")),
    reason="needs the training extra",
)
def test_eval_puts_legal_items_through_the_lawyer_prompt_and_the_judge_grades_them(tmp_path, monkeypatch):
    import autodata.training.evaluate as evaluate

    seen: list[list[dict[str, str]]] = []

    class FakePolicy:
        """Stands in for the transformers model: records the chat prompts, answers every one twice."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def sample(self, conversations, k):
            seen.extend(conversations)
            return [[("weak answer", False)] * k for _ in conversations]

    monkeypatch.setattr(evaluate, "Sampler", FakePolicy)
    monkeypatch.setattr(evaluate, "resolve_model", lambda model: model)
    run = legal_run(tmp_path / "legal1", [legal_row("l-1"), legal_row("l-2", "My employer cut my pay. Can she?")])
    target = tmp_path / "eval.json"
    with FakeOpenAIServer(LegalScript()) as server:
        result = invoke(server, "eval", "--model", "policy", "--data", f"{run}/all", "--k", "2", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert len(seen) == 2 and all(LAWYER in conversation[0]["content"] for conversation in seen)
    assert Counter(r.role for r in server.requests) == {"judge": 2 * 2}  # two items, k = 2, one judgement each
    assert json.loads(target.read_text())["per_task"]["legal"]["n_items"] == 2


def baseline_script() -> GraphScript:
    """The baseline generator writes one question per document; the Recap document's reads as a case recap."""
    base = GraphScript(items=[None])

    def script(role, messages, tool):
        if role != "challenger":
            return base(role, messages, tool)
        title = last_user_text(messages).split("Document: ")[1].splitlines()[0]
        recap = "Recap" in title
        question = "In the case of Smith, the court of appeals held what about deposits?" if recap else QUESTION
        return rubric_item(question, context="")

    script.calls = base.calls
    return script


def test_a_legal_baseline_is_filtered_and_scored_as_the_agentic_legal_set(tmp_path):
    sources = tmp_path / "opinions"
    sources.mkdir()
    (sources / "a.md").write_text("# Deposit opinion\n\nOrdinary wear is not damage; the rent pays for it.")
    (sources / "b.md").write_text("# Recap opinion\n\nA landlord must itemise deductions within 21 days.")
    out = tmp_path / "si-legal"
    with FakeOpenAIServer(baseline_script()) as server:
        result = invoke(server, "baseline", "--method", "self-instruct", "--task", "legal", "--sources", str(sources),
                        "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    roles = Counter(r.role for r in server.requests)
    # No research-paper quality verifier or end-of-loop filter: the legal set has neither.
    assert "quality_verifier" not in roles
    # Only the clean question is scored: 5 weak + 3 strong answers through the lawyer's prompt, 8 judgements.
    assert roles["weak"] == 5 and roles["strong"] == 3 and roles["judge"] == 8
    assert all(LAWYER in system_text(r) and RESEARCHER not in system_text(r) for r in solver_requests(server))
    assert all("court of appeals" not in json.dumps(r.messages) for r in solver_requests(server))

    trajectories = {t["doc_id"]: t for t in map(json.loads, (out / "trajectories.jsonl").read_text().splitlines())}
    assert trajectories["a"]["status"] == "kept" and trajectories["a"]["meets_policy"]
    recap = trajectories["b"]  # the Recap opinion's question reads as a case recap
    assert recap["status"] == "filtered" and recap["rounds"][0]["rule"] == "post_filter_case_recap"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["final_filter"] == {"passed": 1, "rejected": 1} and stats["kept"] == 1
    [item] = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert item["question"] == QUESTION and len(item["weak_scores"]) == 5 and len(item["strong_scores"]) == 3
    context = json.loads((out / "config.json").read_text())["context"]
    assert (context["weak_samples"], context["strong_samples"]) == (5, 3)
    assert context["arrangement"]["solver_prompt"] == "solver_legal"
    assert not context["arrangement"]["quality_verifier"] and not context["arrangement"]["end_filter"]

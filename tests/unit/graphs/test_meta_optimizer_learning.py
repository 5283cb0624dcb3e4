"""The meta-optimizer learns from what it tried and cannot game its grader, with scripted models:
full trajectories within the digest budget, memory across iterations, the frozen grader, the minibatch screen,
the copy guard, Pareto selection inside a run, one corpus split into train / validation / test with the test
split scored only at the end, and budgets that survive a kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from autodata.graphs.meta_optimizer import build_meta_optimizer
from autodata.meta.budget import spent
from autodata.meta.memory import EMPTY_MEMORY, MEMORY_JSON
from autodata.meta.optimize import recursion_limit
from autodata.meta.selection import pareto_weights
from autodata.nodes.meta.select_parent import select_parent
from autodata.state.meta import IterationState, MetaContext, ScoredVersion
from autodata.tasks import task_spec
from autodata.tasks.meta_optimizer import prompt_scope, task_batch_job
from tests.support.meta_script import (
    CHALLENGER,
    MetaScript,
    add_harder_line,
    current_file,
    meta_context,
    meta_provider,
    reword_only,
    run_meta,
    write_corpus,
)

REPO = Path(__file__).resolve().parents[3]


async def optimize(tmp_path, script: MetaScript, iterations: int, **overrides):
    ctx = meta_context(tmp_path, **overrides)
    provider = meta_provider(script)
    state = await run_meta(ctx, iterations, provider)
    return state, tmp_path / "run"


def evaluation_dirs(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "evals").iterdir())


def section(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[1].split(end, 1)[0]


async def test_the_analyzer_reads_answers_and_criterion_hits_within_the_budget(tmp_path):
    script = MetaScript()
    state, run_dir = await optimize(tmp_path, script, iterations=1, digest_tokens=1300)
    prompt = script.calls["analyzer"][0]
    digest = section(prompt, "Trajectories:", "Write the root-cause analysis now.")
    assert len(digest) / 4 <= 1300  # the chars/4 estimate the budget is kept with
    # The root asks easy questions: the weak solver answers well; the strong one is not run.
    assert "weak sample 0 (score 0.86, hits: c1 c2 c3 c4 c5 c6)" in digest and "strong-quality answer" in digest
    assert "c1 [+1] mentions point 0 | weak 2/2, strong not run" in digest
    assert "claims the method needs labels (variant 0) | weak 0/2" in digest
    assert "reference answer:" in digest and "quality check (initial): passed" in digest
    # Both rounds fit 1,300 tokens whole; the packing is recorded and told to the analyzer.
    packing = state.iterations[0].packing
    assert packing["rounds_total"] == packing["rounds_included"] == packing["rounds_full"] == 2
    assert packing["token_budget"] == 1300 and packing["condensed"] == []
    assert "Digest: all 2 rounds (about" in prompt and "every answer whole." in prompt
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert history[1]["packing"] == packing


async def test_iteration_2_reads_what_iteration_1_tried(tmp_path):
    script = MetaScript(implementer=add_harder_line)
    state, run_dir = await optimize(tmp_path, script, iterations=2)
    first_analyzer, second_analyzer = script.calls["analyzer"]
    first_implementer, second_implementer = script.calls["implementer"]
    assert EMPTY_MEMORY in first_analyzer and EMPTY_MEMORY in first_implementer
    for prompt in (second_analyzer, second_implementer):
        assert "iteration 1 (v0000 -> v0001): KEPT; changed challenger_cs-research.md" in prompt
        assert "Ask for multi-step reasoning." in prompt and "validation 0.00 -> 1.00" in prompt
    assert "do not repeat a discarded change" in second_implementer
    memory = json.loads((run_dir / MEMORY_JSON).read_text())
    assert [(m["iteration"], m["status"]) for m in memory] == [(1, "kept"), (2, "discarded")]


async def test_an_edit_to_the_grader_is_rejected_without_spending_an_evaluation(tmp_path):
    def loosen_the_grader(messages):
        return {"summary": "Pass more items.", "edits": [
            {"file": "quality_verifier_rubric.md", "content": "Pass everything.\n<!-- user -->\n{{ item.question }}"},
            {"file": "judge_rubric.md", "content": "Mark every criterion true.\n<!-- user -->\n{{ answer }}"},
        ]}  # fmt: skip

    state, run_dir = await optimize(tmp_path, MetaScript(implementer=loosen_the_grader), iterations=1)
    record = state.iterations[0]
    assert record.status == "invalid" and record.child is None
    reasons = {edit.file: edit.reason for edit in record.rejected_edits}
    assert "only --open-qv makes it editable" in reasons["quality_verifier_rubric.md"]
    assert reasons["judge_rubric.md"].startswith("frozen")
    assert evaluation_dirs(run_dir) == ["i0000-validation-v0000", "i0001-minibatch-v0000"]


async def test_with_open_qv_a_kept_quality_verifier_change_is_listed(tmp_path):
    def harder_and_looser(messages):
        edits = add_harder_line(messages)["edits"]
        qv = current_file(messages, "quality_verifier_rubric.md")
        looser = qv.replace("so be strict", "so be lenient", 1)
        return {"summary": "Harder questions, one QV rule reworded.",
                "edits": [*edits, {"file": "quality_verifier_rubric.md", "content": looser}]}  # fmt: skip

    state, run_dir = await optimize(tmp_path, MetaScript(implementer=harder_and_looser), iterations=1, open_qv=True)
    record = state.iterations[0]
    assert record.status == "kept" and "quality_verifier_rubric.md" in record.files_changed
    [change] = json.loads((run_dir / "result.json").read_text())["qv_changes"]
    assert change["file"] == "quality_verifier_rubric.md" and change["version"] == "v0001"
    assert any("so be strict" in line for line in change["removed"])
    assert any("so be lenient" in line for line in change["added"])


async def test_a_child_that_fails_the_screen_costs_no_validation_run(tmp_path):
    script = MetaScript(implementer=reword_only)
    state, run_dir = await optimize(tmp_path, script, iterations=1)
    record = state.iterations[0]
    # The parent failed both minibatch documents; the reworded child fails them too.
    assert record.status == "screened_out" and record.screen.documents == 2 and record.screen.accepted == 0
    assert record.parent_validations == [] and record.child_validations == []
    assert evaluation_dirs(run_dir) == ["i0000-validation-v0000", "i0001-minibatch-v0000", "i0001-screen-v0001"]
    assert record.metric_calls == 4  # two minibatch and two screen document runs, no validation


def long_document(seed: str) -> str:
    return " ".join(f"Finding {seed}-{i}: the ablation in table {i} shows a {i % 7 + 2}.{i % 5} point drop."
                    for i in range(30))


async def test_a_prompt_copying_a_validation_document_is_rejected(tmp_path):
    val = tmp_path / "long-val"
    val.mkdir()
    text = long_document("delta")
    (val / "delta.md").write_text(f"# Delta\n\n{text}\n", encoding="utf-8")
    (val / "epsilon.md").write_text(f"# Epsilon\n\n{long_document('epsilon')}\n", encoding="utf-8")
    copied = text[300:520]

    def paste_the_answer(messages):
        content = current_file(messages, CHALLENGER).replace("<!-- user -->", f"Example: {copied}\n<!-- user -->", 1)
        return {"summary": "Add an example.", "edits": [{"file": CHALLENGER, "content": content}]}

    state, run_dir = await optimize(tmp_path, MetaScript(implementer=paste_the_answer), iterations=1, val=str(val))
    record = state.iterations[0]
    assert record.status == "invalid" and record.child is None
    [rejected] = record.rejected_edits
    assert rejected.file == CHALLENGER.removesuffix(".md")
    assert "verbatim from validation document 'delta'" in rejected.reason
    assert evaluation_dirs(run_dir) == ["i0000-validation-v0000", "i0001-minibatch-v0000"]


async def test_pareto_selection_picks_only_non_dominated_versions():
    population = [
        ScoredVersion(id="v0000", score=0.5, per_document={"d1": 1.0, "d2": 0.0}),
        ScoredVersion(id="v0001", score=1.0, per_document={"d1": 1.0, "d2": 1.0}),
        ScoredVersion(id="v0002", score=0.5, per_document={"d1": 0.0, "d2": 1.0}),
    ]
    assert pareto_weights({v.id: v.per_document for v in population}) == {"v0001": 2}
    runtime = SimpleNamespace(context=MetaContext(selection="pareto", seed=3))
    picks = {(await select_parent(IterationState(iteration=i, population=population), runtime))["parent"]
             for i in range(1, 30)}  # fmt: skip
    assert picks == {"v0001"}


async def test_pareto_selection_runs_inside_an_optimization(tmp_path):
    state, _ = await optimize(tmp_path, MetaScript(), iterations=2, selection="pareto")
    # After iteration 1 the child (every document accepted) dominates the root (none): it is the only parent.
    assert [r.parent for r in state.iterations] == ["v0000", "v0001"]


async def test_one_corpus_is_split_and_the_test_split_is_scored_only_at_the_end(tmp_path):
    sources = write_corpus(tmp_path / "corpus", ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"])
    ctx = meta_context(tmp_path, sources=str(sources), train="", val="", train_size=3, val_size=2)
    evaluated = []
    cs_research = task_spec("cs-research")
    run_self_instruct = task_batch_job(cs_research)

    async def recording_job(options, provider, run_dir, documents):
        evaluated.append(run_dir.path.name)
        return await run_self_instruct(options, provider, run_dir, documents)

    graph = build_meta_optimizer(recording_job, prompt_scope(cs_research), meta_provider(MetaScript())).compile()
    await graph.ainvoke({"target_iterations": 2}, {"recursion_limit": recursion_limit(2, 1)}, context=ctx)

    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [3, 2, 2]
    assert len(set(splits["train"]) | set(splits["validation"]) | set(splits["test"])) == 7
    tests = [name for name in evaluated if "-test-" in name]
    # Only the final best version and the root, after every iteration's evaluations.
    assert sorted(tests) == ["i0002-test-v0000", "i0002-test-v0001"] and evaluated[-2:] == tests
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["best_version"] == "v0001" and result["best_validation"] == 1.0 and result["best_test"] == 1.0
    assert result["root_test"] == 0.0 and result["stop_reason"] == "iterations: 2 of 2"


async def test_budgets_stop_the_run_and_each_version_records_its_metric_calls(tmp_path):
    reference, _ = await optimize(tmp_path / "reference", MetaScript(), iterations=1)
    after_one = spent(reference).model_calls
    state, run_dir = await optimize(tmp_path, MetaScript(), iterations=5, max_model_calls=after_one)
    assert len(state.iterations) == 1 and state.stop_reason.startswith("model calls:")
    scores = json.loads((run_dir / "versions" / "v0001" / "scores.json").read_text())
    assert scores["status"] == "kept" and scores["metric_calls"] == state.iterations[0].metric_calls == 8


def _run_reference(tmp_path: Path):
    provider = meta_provider(MetaScript())
    return asyncio.run(run_meta(meta_context(tmp_path), 2, provider))


def test_a_kill_9_keeps_the_memory_and_the_budget_counters(tmp_path):
    reference_dir = tmp_path / "reference"
    reference = _run_reference(reference_dir)
    budget = spent(reference).model_calls  # reached exactly at the end of iteration 2
    marker = tmp_path / "inside-iteration-2"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.meta_kill", str(tmp_path), str(marker), "5", str(budget)],
        cwd=REPO, env={**os.environ, "LANGSMITH_TRACING": "false"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the run did not reach iteration 2"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    run_dir = tmp_path / "run"
    assert [m["iteration"] for m in json.loads((run_dir / MEMORY_JSON).read_text())] == [1]

    script = MetaScript()
    provider = meta_provider(script)
    state = asyncio.run(run_meta(meta_context(tmp_path, max_model_calls=budget), 5, provider))
    # The resumed iteration 2 read iteration 1's memory, and the counters carried over: the model-call budget
    # stops the run after iteration 2, exactly where the uninterrupted reference run spent it.
    assert "iteration 1 (v0000 -> v0001): KEPT" in script.calls["analyzer"][0]
    assert len(state.iterations) == 2 and state.stop_reason.startswith("model calls:")
    assert spent(state).model_calls == budget
    assert [m["iteration"] for m in json.loads((run_dir / MEMORY_JSON).read_text())] == [1, 2]

"""The meta-optimizer graph end to end with scripted models: keep iff strictly better, lineage and diffs,
the guard inside a run, concurrent workers, failed model calls, and the files a run writes."""

from __future__ import annotations

import json

import pytest

from autodata.graphs.meta_optimizer import build_meta_optimizer
from autodata.meta.optimize import recursion_limit
from autodata.nodes.meta.keep import keep_decision
from autodata.state.meta import Evaluation
from autodata.tasks import task_spec
from autodata.tasks.meta_optimizer import meta_optimizer_for, prompt_scope, task_batch_job
from tests.support.meta_script import (
    CHALLENGER,
    HARDER,
    MetaScript,
    add_harder_line,
    meta_context,
    meta_provider,
    reword_only,
    run_meta,
)


async def optimize(tmp_path, script: MetaScript, iterations: int, **overrides):
    ctx = meta_context(tmp_path, **overrides)
    provider = meta_provider(script)
    state = await run_meta(ctx, iterations, provider)
    return state, tmp_path / "run"


def history(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def evaluation(accepted: int, documents: int, repeat: int = 0) -> Evaluation:
    return Evaluation(version="v", iteration=1, split="validation", documents=documents, accepted=accepted, run_dir="x",
                      repeat=repeat, seed=repeat)  # fmt: skip


def kept(child: list[tuple[int, int]], parent: list[tuple[int, int]]) -> bool:
    return keep_decision([evaluation(a, d, r) for r, (a, d) in enumerate(child)],
                         [evaluation(a, d, r) for r, (a, d) in enumerate(parent)]).kept  # fmt: skip


def test_one_repeat_keeps_a_strictly_better_child_compared_exactly():
    assert kept([(2, 4)], [(1, 4)])
    assert not kept([(1, 4)], [(1, 4)])  # a tie keeps the parent
    assert not kept([(1, 3)], [(2, 6)])
    assert not kept([(0, 4)], [(1, 4)])


def test_with_repeats_the_mean_improvement_must_beat_the_spread():
    # Child 3/4 and 1/4 (mean 0.5, spread 0.5) against a steady parent at 1/4: +0.25 is within the noise.
    decision = keep_decision([evaluation(3, 4, 0), evaluation(1, 4, 1)], [evaluation(1, 4, 0), evaluation(1, 4, 1)])
    assert not decision.kept and decision.improvement == 0.25 and decision.spread == 0.5
    assert decision.parent_mean == 0.25 and decision.child_mean == 0.5 and decision.seeds == [0, 1]
    assert decision.child_rates == [0.75, 0.25] and decision.parent_rates == [0.25, 0.25]
    # A steady improvement beats a smaller spread.
    assert kept([(3, 4), (4, 4)], [(1, 4), (1, 4)])
    assert not kept([(2, 4), (2, 4)], [(1, 4), (2, 4)])  # +0.125 against a spread of 0.25


async def test_better_child_is_kept_with_its_lineage_and_diff(tmp_path):
    script = MetaScript(implementer=add_harder_line)
    state, run_dir = await optimize(tmp_path, script, iterations=2)

    # Root: easy questions, the weak solver passes them, nothing accepted. Child 1 asks harder questions.
    rows = history(run_dir)
    assert [(r["iteration"], r["version"], r["parent"], r["status"]) for r in rows] == [
        (0, "v0000", None, "root"), (1, "v0001", "v0000", "kept"), (2, "v0002", "v0001", "discarded"),
    ]  # fmt: skip
    assert rows[1]["parent_val_pass_rate"] == 0.0 and rows[1]["val_pass_rate"] == 1.0
    assert rows[1]["mean_gap"] == pytest.approx(4 / 7)  # strong 6/7, weak 2/7 (tests.support.graph_script)
    # Iteration 2's child is no better than its (now perfect) parent: a tie is not kept.
    assert rows[2]["val_pass_rate"] == rows[2]["parent_val_pass_rate"] == 1.0
    assert [r["best_score"] for r in rows] == [0.0, 1.0, 1.0] and rows[2]["best_version"] == "v0001"
    assert [v.id for v in state.population()] == ["v0000", "v0001"]

    scores = json.loads((run_dir / "versions" / "v0002" / "scores.json").read_text())
    assert scores["parent"] == "v0001" and scores["status"] == "discarded" and scores["files_changed"] == [CHALLENGER]
    diff = (run_dir / "versions" / "v0002" / "diff.patch").read_text()
    assert diff.startswith(f"--- a/v0001/{CHALLENGER}\n+++ b/v0002/{CHALLENGER}\n")
    assert f"+{HARDER}" in diff and diff.count(f"+{HARDER}") == 1
    assert (run_dir / "pass_rate.png").read_bytes()[:4] == b"\x89PNG"

    # The analyzer saw the minibatch's failures; the implementer saw the analysis and the editable files only.
    analyzer_prompt = script.calls["analyzer"][0]
    assert "Minibatch: 2 documents, 0 accepted." in analyzer_prompt and "Round outcomes: too_easy 2" in analyzer_prompt
    assert "exhausted after 1 round(s)" in analyzer_prompt and "An easy recall question" in analyzer_prompt
    implementer_prompt = script.calls["implementer"][0]
    assert script.analysis in implementer_prompt and f"=== {CHALLENGER} ===" in implementer_prompt
    assert "=== solver_rubric.md ===" not in implementer_prompt


async def test_equal_child_is_discarded_and_population_unchanged(tmp_path):
    state, run_dir = await optimize(tmp_path, MetaScript(implementer=reword_only), iterations=1, screen=False)
    record = state.iterations[0]
    assert record.status == "discarded" and record.child == "v0001"
    assert [e.accepted for e in record.child_validations] == [e.accepted for e in record.parent_validations] == [0]
    assert [v.id for v in state.population()] == ["v0000"]
    # Discarded versions stay on disk with their diff and score, for the audit.
    assert (run_dir / "versions" / "v0001" / "diff.patch").read_text().count("+Be precise.") == 1


async def test_edits_to_frozen_prompts_are_rejected_inside_a_run(tmp_path):
    def hack_the_judge(messages):
        return {"summary": "Make it easy to pass.", "edits": [
            {"file": "judge_rubric.md", "content": "Mark every criterion true.\n<!-- user -->\n{{ answer }}"},
            {"file": "solver_rubric.md", "content": "Answer wrongly.\n<!-- user -->\n{{ question }}"},
        ]}  # fmt: skip

    script = MetaScript(implementer=hack_the_judge)
    state, run_dir = await optimize(tmp_path, script, iterations=1)
    record = state.iterations[0]
    assert record.status == "invalid" and record.child is None
    assert {e.file for e in record.rejected_edits} == {"judge_rubric.md", "solver_rubric.md"}
    assert all(e.reason.startswith("frozen") for e in record.rejected_edits)
    assert history(run_dir)[1]["rejected_edits"][0]["file"] == "judge_rubric.md"
    assert sorted(p.name for p in (run_dir / "versions").iterdir()) == ["v0000"]
    # No child, so no validation run was spent on it.
    assert record.parent_validations == [] and record.child_validations == []


async def test_workers_run_iterations_concurrently_from_the_same_population(tmp_path):
    state, run_dir = await optimize(tmp_path, MetaScript(), iterations=3, workers=2)
    records = sorted(state.iterations, key=lambda r: r.iteration)
    assert [r.iteration for r in records] == [1, 2, 3]
    # Iterations 1 and 2 ran in one batch: both could only pick the root.
    assert [records[0].parent, records[1].parent] == ["v0000", "v0000"]
    assert records[0].status == records[1].status == "kept"
    assert records[2].parent in {"v0001", "v0002"}  # the second batch picks among the better versions
    assert len({v.id for v in state.versions}) == len(state.versions) == 4
    assert len(history(run_dir)) == 4


async def test_failed_analyzer_call_ends_the_iteration_without_a_child(tmp_path):
    script = MetaScript()

    def analyzer_down(role, messages, tool):
        if role == "analyzer":
            raise ConnectionError("endpoint down")
        return script(role, messages, tool)

    provider = meta_provider(analyzer_down)
    state = await run_meta(meta_context(tmp_path), 1, provider)
    record = state.iterations[0]
    assert record.status == "failed" and "analyzer" in record.error and "ConnectionError" in record.error
    assert record.usage["analyzer"].failures == 1 and "implementer" not in record.usage
    assert history(tmp_path / "run")[1]["error"] == record.error


async def test_the_graph_builder_injects_the_batch_job_and_the_output_writer(tmp_path):
    """Evaluating and recording nodes use what the builder gives them: no node imports the application layer."""
    ctx = meta_context(tmp_path)
    evaluated, written = [], []
    cs_research = task_spec("cs-research")
    run_self_instruct = task_batch_job(cs_research)

    async def recording_job(options, provider, run_dir, documents):
        evaluated.append((run_dir.path.name, options.prompts_dir.rsplit("/", 1)[-1], len(documents)))
        return await run_self_instruct(options, provider, run_dir, documents)

    provider = meta_provider(MetaScript())
    graph = build_meta_optimizer(
        recording_job, prompt_scope(cs_research), provider, lambda run_dir, state: written.append(len(state.iterations))
    )
    await graph.compile().ainvoke({"target_iterations": 1}, {"recursion_limit": recursion_limit(1, 1)}, context=ctx)

    assert evaluated[:3] == [("i0000-validation-v0000", "v0000", 2), ("i0001-minibatch-v0000", "v0000", 2),
                             ("i0001-screen-v0001", "v0001", 2)]  # fmt: skip
    assert sorted(evaluated[3:]) == [("i0001-validation-v0000", "v0000", 2), ("i0001-validation-v0001", "v0001", 2)]
    assert written == [0, 1, 1]  # after the seed, after the iteration and at the end
    assert not (tmp_path / "run" / "history.jsonl").exists()  # the default writer was not used


async def test_a_graph_built_for_one_task_refuses_a_context_naming_another(tmp_path):
    """The served graph is bound to one task: a Studio context naming another would evaluate the wrong graph."""
    graph = meta_optimizer_for(task_spec("cs-research"), meta_provider(MetaScript())).compile()
    ctx = meta_context(tmp_path, task="legal")
    with pytest.raises(ValueError, match="evaluates the cs-research task, not 'legal'"):
        await graph.ainvoke({"target_iterations": 1}, {"recursion_limit": recursion_limit(1, 1)}, context=ctx)

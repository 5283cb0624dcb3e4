"""Run directory -> train/test prompt rows, recipes, eval metrics and the CLI's error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.commands.train import task_solver
from autodata.prompting.library import PromptLibrary
from autodata.training.data import (
    TEST_FRACTION,
    load_items,
    prompt_row,
    require_items,
    resolve_data,
    split_of,
)
from autodata.training.errors import TrainingSetupError
from autodata.training.evaluate import Completion, default_eval_path, metrics
from autodata.training.recipe import available_recipes, load_recipe, parse_override

RUBRIC = [{"criterion": "States the mechanism", "weight": 2.0}, {"criterion": "Gets it backwards", "weight": -1.0}]


def item(n: int, task: str = "science", **extra) -> dict:
    family = "verifiable" if task == "science" else "rubric"
    row = {"id": f"{task}-{n}", "task": task, "family": family, "context": "", "question": f"Question {n}?",
           "reference_answer": str(n), "rubric": RUBRIC if family == "rubric" else []}  # fmt: skip
    return {**row, **extra}


def write_run(path: Path, rows: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_split_is_deterministic_and_about_one_fifth_test():
    ids = [f"item-{n}" for n in range(2000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]
    assert abs(splits.count("test") / len(ids) - TEST_FRACTION) < 0.03


def test_splits_partition_the_run(tmp_path):
    run = write_run(tmp_path / "run", [item(n) for n in range(40)])
    train = {r["id"] for r in load_items(resolve_data(run, "train"))}
    test = {r["id"] for r in load_items(resolve_data(run / "test", "train"))}  # the path's /test wins
    everything = {r["id"] for r in load_items(resolve_data(run / "all", "train"))}
    assert train and test and not train & test and train | test == everything and len(everything) == 40


def test_items_without_a_question_or_answer_are_skipped(tmp_path):
    run = write_run(tmp_path / "run", [item(1), item(2, question=""), item(3, reference_answer=None)])
    assert [r["id"] for r in load_items(resolve_data(run / "all", "test"))] == ["science-1"]


def test_rubric_items_need_a_rubric_not_a_reference_answer(tmp_path):
    # A legal item has no reference answer: its rubric is what the reward is computed against.
    rows = [item(1, task="legal", reference_answer=""), item(2, task="legal", reference_answer="", rubric=[])]
    run = write_run(tmp_path / "run", rows)
    assert [r["id"] for r in load_items(resolve_data(run / "all", "test"))] == ["legal-1"]


def test_an_unknown_task_is_a_setup_error_not_a_traceback():
    with pytest.raises(TrainingSetupError, match="an item's task is not known.*'astrology'"):
        prompt_row(item(1, task="astrology", family=None), PromptLibrary(), True, task_solver)


def test_an_items_jsonl_file_is_accepted(tmp_path):
    run = write_run(tmp_path / "run", [item(1)])
    source = resolve_data(run / "items.jsonl", "all")
    assert source.split == "all" and load_items(source)[0]["id"] == "science-1"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "run directory not found"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "not a run directory"),
    ],
)
def test_bad_data_paths_say_what_is_wrong(tmp_path, make, message):
    with pytest.raises(TrainingSetupError, match=message):
        resolve_data(make(tmp_path), "train")


def test_an_empty_split_points_to_another(tmp_path):
    only_test = next(n for n in range(100) if split_of(f"science-{n}") == "test")
    run = write_run(tmp_path / "run", [item(only_test)])
    with pytest.raises(TrainingSetupError, match=r"no items in .*/train \(1 usable items in the run.*/all"):
        require_items(resolve_data(run, "train"))


def test_prompt_row_is_a_chat_prompt_with_reward_columns():
    row = prompt_row(item(7, task="cs-research", context="Some context."), PromptLibrary(), True, task_solver)
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert "Question 7?" in row["prompt"][1]["content"] and "Some context." in row["prompt"][1]["content"]
    assert "7" not in row["prompt"][0]["content"]  # the reference answer is not in the prompt
    assert row["family"] == "rubric" and row["task"] == "cs-research" and row["reference_answer"] == "7"
    assert json.loads(row["rubric"]) == RUBRIC


def test_verifiable_prompts_ask_for_a_final_answer_line():
    row = prompt_row(item(3), PromptLibrary(), False, task_solver)
    assert "Final answer:" in row["prompt"][0]["content"] and json.loads(row["rubric"]) == []


@pytest.mark.parametrize("name", ["cpu-smoke", "gpu", "gpu-science-paper"])
def test_shipped_recipes_load(name):
    recipe = load_recipe(name)
    assert recipe.name == name and recipe.grpo["num_generations"] >= 2
    assert recipe.grpo["per_device_train_batch_size"] % recipe.grpo["num_generations"] == 0


def test_gpu_recipe_has_the_paper_settings():
    grpo = load_recipe("gpu").grpo
    completions_per_step = grpo["per_device_train_batch_size"] * grpo["gradient_accumulation_steps"]
    assert grpo["learning_rate"] == 1e-6 and grpo["num_generations"] == 8 and grpo["bf16"] is True
    assert 16 <= completions_per_step // grpo["num_generations"] <= 64
    assert grpo["max_completion_length"] >= 4096


def test_the_science_paper_recipe_has_the_methods_training_setup():
    grpo = load_recipe("gpu-science-paper").grpo
    prompts_per_step = grpo["per_device_train_batch_size"] * grpo["gradient_accumulation_steps"] // grpo["num_generations"]
    assert (grpo["num_generations"], prompts_per_step, grpo["max_completion_length"]) == (8, 64, 65_536)


def test_overrides_merge_into_the_grpo_table():
    recipe = load_recipe("cpu-smoke", dict([parse_override("max_steps=5"), parse_override("report_to=wandb")]))
    assert recipe.grpo["max_steps"] == 5 and recipe.grpo["report_to"] == "wandb"
    assert parse_override("bf16=true") == ("bf16", True)
    assert parse_override("learning_rate=2e-6") == ("learning_rate", 2e-6)
    with pytest.raises(TrainingSetupError, match="KEY=VALUE"):
        parse_override("nonsense")


def test_unknown_and_invalid_recipes_are_reported(tmp_path):
    with pytest.raises(TrainingSetupError, match="unknown recipe 'nope'.*cpu-smoke"):
        load_recipe("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "x"\nsurprise = 1\n')
    with pytest.raises(TrainingSetupError, match="invalid"):
        load_recipe(str(bad))
    assert {"cpu-smoke", "gpu"} <= set(available_recipes())


def completion(item_id: str, task: str, score: float | None, truncated: bool = False) -> Completion:
    return Completion(item={"id": item_id, "task": task}, text="", truncated=truncated, score=score)


def test_metrics_mean_best_and_truncation_per_task_and_overall():
    completions = [
        completion("a", "science", 1.0), completion("a", "science", 0.0, truncated=True),
        completion("b", "science", 0.0), completion("b", "science", 0.0),
        completion("c", "legal", 0.5), completion("c", "legal", None),  # judge failure: unscored, not 0
    ]  # fmt: skip
    result = metrics(completions)
    assert result["per_task"]["science"] == {"n_items": 2, "mean_at_k": 0.25, "best_at_k": 0.5, "truncation_rate": 0.25}
    assert result["per_task"]["legal"] == {"n_items": 1, "mean_at_k": 0.5, "best_at_k": 0.5, "truncation_rate": 0.0}
    assert result["overall"]["n_items"] == 3
    assert result["overall"]["mean_at_k"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    assert result["overall"]["truncation_rate"] == pytest.approx(1 / 6)


def test_default_eval_file_sits_in_the_model_directory(tmp_path):
    assert default_eval_path(str(tmp_path)) == tmp_path / "eval.json"
    assert default_eval_path("Qwen/Qwen3-4B") == Path("eval-Qwen_Qwen3-4B.json")


def test_cli_reports_a_missing_run_directory(tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "run directory not found" in result.output


def test_cli_reports_an_empty_dataset(tmp_path):
    run = write_run(tmp_path / "run", [])
    result = CliRunner().invoke(app, ["eval", "--model", "smollm2-135m-gguf", "--data", str(run)])
    assert result.exit_code == 2 and "no items in" in result.output


def test_cli_reports_an_unknown_recipe(tmp_path):
    run = write_run(tmp_path / "run", [item(1)])
    result = CliRunner().invoke(app, ["train", "--data", str(run), "--out", str(tmp_path / "o"), "--recipe", "huge"])
    assert result.exit_code == 2 and "unknown recipe 'huge'" in result.output


def test_missing_training_extra_gives_an_install_hint(monkeypatch):
    import importlib.util

    from autodata.training import grpo

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a))
    with pytest.raises(TrainingSetupError, match=r"(?s)missing: trl.*pip install 'autodata\[training\]'"):
        grpo.prepare_training_runtime()


def test_last_metrics_report_the_final_step_without_absent_rewards():
    from autodata.training.grpo import last_metrics

    history = [
        {"loss": 0.5, "reward": 0.1, "rewards/rubric/mean": 0.1, "step": 1},
        {"loss": 0.2, "reward": 0.4, "rewards/rubric/mean": None, "rewards/verifiable/mean": 0.4, "step": 2},
        {"train_runtime": 3.0, "step": 2},
    ]
    assert last_metrics(history) == {"loss": 0.2, "reward": 0.4, "rewards/verifiable/mean": 0.4}
    assert last_metrics([]) == {}


def test_gpu_recipe_keys_are_all_grpo_config_fields(tmp_path):
    pytest.importorskip("trl", reason="needs the training extra")
    from autodata.training.grpo import grpo_config

    # bf16 needs a GPU; everything else must be accepted by trl.GRPOConfig as written.
    config = grpo_config(load_recipe("gpu", {"bf16": False}), tmp_path, quiet=True)
    assert config.generation_batch_size == 256 and config.num_generations == 8 and config.learning_rate == 1e-6

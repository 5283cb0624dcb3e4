"""GRPO on CPU end to end: a tiny run directory -> 2 optimizer steps -> checkpoint -> eval metrics.

Slow by nature (~1-2 min on 2 shared cores): it loads SmolLM2-135M (converted once from the bundled GGUF and
cached under ~/.cache/autodata), samples completions and takes real optimizer steps. The judge for the rubric
items is scripted so the rewards are deterministic; the policy, TRL and the verifiable reward are all real.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="needs the training extra")

from typer.testing import CliRunner  # noqa: E402

from autodata.cli import app  # noqa: E402
from autodata.commands.train import task_solver  # noqa: E402
from autodata.training.data import resolve_data, split_of  # noqa: E402
from autodata.training.evaluate import evaluate  # noqa: E402
from autodata.training.grpo import TRAIN_LOG, TRAIN_SUMMARY, train  # noqa: E402
from autodata.training.recipe import load_recipe  # noqa: E402
from tests.support.scripted import scripted_provider  # noqa: E402

pytestmark = pytest.mark.integration

RUBRIC = [
    {"criterion": "Says dropout randomly disables units during training", "weight": 3},
    {"criterion": "Explains that this prevents co-adaptation of units", "weight": 2},
    {"criterion": "Mentions an ensemble-like averaging effect", "weight": 1},
    {"criterion": "Claims dropout is also applied at inference time", "weight": -2},
]
# Easy enough that SmolLM2-135M is right in some of its samples, so groups have reward variance.
TRAIN_PROBLEMS = [("What is 1+1?", "2"), ("How many days are in a week?", "7")]
TEST_PROBLEMS = [("What is 10 times 10?", "100"), ("What is half of 10?", "5")]


def id_in_split(prefix: str, split: str, taken: set[str]) -> str:
    """The first `prefix-N` id that lands in `split`, so the fixture's split is known without magic ids."""
    n = 0
    while (candidate := f"{prefix}-{n}") in taken or split_of(candidate) != split:
        n += 1
    taken.add(candidate)
    return candidate


def fixture_items() -> list[dict]:
    taken: set[str] = set()
    rows = []
    for question, answer in TRAIN_PROBLEMS + TEST_PROBLEMS:
        split = "train" if (question, answer) in TRAIN_PROBLEMS else "test"
        rows.append({"id": id_in_split("science", split, taken), "task": "science", "family": "verifiable",
                     "context": "", "question": question, "reference_answer": answer, "rubric": []})  # fmt: skip
    for topic in ("image classifiers", "language models"):
        rows.append({
            "id": id_in_split("cs", "train", taken), "task": "cs-research", "family": "rubric",
            "context": f"A paper trains {topic} with dropout p=0.5 on hidden layers.",
            "question": f"Why does dropout reduce overfitting in the {topic} of this paper?",
            "reference_answer": "Randomly dropping units prevents co-adaptation, like averaging many thinned networks.",
            "rubric": RUBRIC,
        })  # fmt: skip
    return rows


def scripted_judge(role, messages, tool_name):
    """Verdicts from a checksum of the answer: different completions get different, repeatable scores."""
    text = str(messages[-1].content)
    count = int(re.search(r"Return exactly (\d+) verdicts", text).group(1))
    answer = text.split("<answer>")[1].split("</answer>")[0]
    return {"verdicts": [bool(zlib.crc32(f"{i}:{answer}".encode()) & 1) for i in range(count)]}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("run")
    (path / "items.jsonl").write_text("".join(json.dumps(row) + "\n" for row in fixture_items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("grpo")
    provider = scripted_provider(scripted_judge)
    recipe = load_recipe("cpu-smoke", {"max_completion_length": 24})
    outcome = train(resolve_data(run_dir, "train"), recipe, out, solvers=task_solver, provider=provider, quiet=True)
    return outcome, provider


def test_two_steps_write_a_checkpoint_with_loss_and_reward_logs(trained):
    outcome, provider = trained
    out = outcome.out
    assert outcome.steps == 2 and outcome.train_items == 4
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "tokenizer_config.json").is_file()
    steps = [entry for entry in json.loads((out / TRAIN_LOG).read_text()) if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    for entry in steps:
        assert isinstance(entry["loss"], float) and 0.0 <= entry["reward"] <= 1.0
    # Both rewards ran: the verifiable one on science rows, the judge on the rubric rows (4 completions each).
    logged = {key for entry in steps for key in entry}
    assert {"rewards/verifiable/mean", "rewards/rubric/mean"} <= logged
    assert len(provider.chat_model("judge").calls) >= 4
    summary = json.loads((out / TRAIN_SUMMARY).read_text())
    assert summary["recipe"]["name"] == "cpu-smoke" and summary["steps"] == 2


def test_the_optimizer_moved_the_weights(trained):
    import torch
    from safetensors.torch import load_file

    from autodata.training.model_files import resolve_model

    outcome, _ = trained
    base = load_file(str(Path(resolve_model("smollm2-135m-gguf")) / "model.safetensors"))
    tuned = load_file(str(outcome.out / "model.safetensors"))
    changed = [name for name, tensor in tuned.items() if not torch.equal(tensor, base[name])]
    assert changed, "no parameter changed: every group had zero reward variance"


def test_eval_cli_on_the_checkpoint_writes_the_metrics(trained, run_dir, tmp_path):
    outcome, _ = trained
    target = tmp_path / "eval.json"
    args = ["eval", "--model", str(outcome.out), "--data", str(run_dir / "test"), "--k", "2",
            "--max-tokens", "24", "--no-reasoning", "--out", str(target)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(target.read_text())
    assert set(report) == {"model", "data", "k", "max_tokens", "per_task", "overall"}
    assert report["k"] == 2 and report["max_tokens"] == 24 and report["data"].endswith("/test")
    assert list(report["per_task"]) == ["science"]  # the test split holds only the science items
    overall = report["overall"]
    assert set(overall) == {"n_items", "mean_at_k", "best_at_k", "truncation_rate"}
    assert overall["n_items"] == len(TEST_PROBLEMS)
    assert 0.0 <= overall["mean_at_k"] <= overall["best_at_k"] <= 1.0
    assert 0.0 <= overall["truncation_rate"] <= 1.0


def test_eval_scores_rubric_items_with_the_judge(trained, run_dir):
    outcome, _ = trained
    provider = scripted_provider(scripted_judge)
    result = evaluate(str(outcome.out), resolve_data(run_dir / "train", "test"), k=2, max_tokens=16,
                      solvers=task_solver, reasoning=False, provider=provider)  # fmt: skip
    per_task = result.report["per_task"]
    assert set(per_task) == {"science", "cs-research"} and not result.unscored
    assert per_task["cs-research"]["n_items"] == 2
    assert len(provider.chat_model("judge").calls) == 2 * 2  # 2 rubric items x k=2, one judge call each

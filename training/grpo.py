"""`autodata train`: GRPO (TRL's GRPOTrainer) on the train split of a run directory.

The output directory receives the trained model and tokenizer (`from_pretrained`-loadable), `train_log.json`
(the trainer's log history: loss, reward, per-reward means, KL, completion lengths per logging step) and
`autodata_train.json` (what was trained on what, with which recipe). Launch with `accelerate launch -m
autodata.cli train ...` for several GPUs; only the main process writes the summary files.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.engine.rundir import write_json_atomic
from autodata.state.schemas import TaskFamily
from autodata.training.data import DataSource, SolverLookup, require_items, to_dataset
from autodata.training.errors import TrainingSetupError
from autodata.training.model_files import resolve_model
from autodata.training.recipe import Recipe
from autodata.training.rewards import RubricJudge, RubricReward, VerifiableReward

TRAIN_LOG, TRAIN_SUMMARY = "train_log.json", "autodata_train.json"
TRAINING_MODULES = ("torch", "transformers", "trl", "accelerate")


def prepare_training_runtime() -> None:
    """Fail early with an install hint if the training extra is missing; tune OpenMP before torch loads."""
    # OpenMP threads that busy-wait starve each other when CPU cores are shared (several jobs on 2 cores here):
    # a 135M-model generate took 160 s instead of 18 s. Passive waiting costs little on a dedicated machine.
    # It only takes effect if torch is not imported yet; a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    missing = [name for name in TRAINING_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainingSetupError(
            f"training needs the 'training' extra (missing: {', '.join(missing)}). Install it with\n"
            "  pip install 'autodata[training]'   (or `make install`; on a CPU-only machine install the CPU build "
            "of torch first, e.g. pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        )


@dataclass
class TrainOutcome:
    out: Path
    model: str
    data: str
    train_items: int
    steps: int
    seconds: float
    final_metrics: dict[str, float]


def reward_functions(
    families: set[str], recipe: Recipe, provider: ModelProvider | None, prompts: PromptLibrary
) -> list[Any]:
    """Only the rewards the data needs: no judge (and no judge endpoint) for verifiable-only runs."""
    funcs: list[Any] = []
    if TaskFamily.VERIFIABLE.value in families:
        funcs.append(VerifiableReward())
    if TaskFamily.RUBRIC.value in families:
        judge = RubricJudge(provider, prompts, concurrency=recipe.judge_concurrency)
        funcs.append(RubricReward(judge, on_failure=recipe.on_judge_failure))
    return funcs


def grpo_config(recipe: Recipe, out: Path, quiet: bool):
    from trl import GRPOConfig

    options = {"report_to": "none", **recipe.grpo, "output_dir": str(out)}
    if quiet:
        options.setdefault("disable_tqdm", True)
    try:
        return GRPOConfig(**options)
    except TypeError as exc:  # an unknown key in [grpo] or --set
        raise TrainingSetupError(f"recipe {recipe.name}: {exc} (see trl.GRPOConfig for valid keys)") from None
    except ValueError as exc:  # e.g. a batch size not divisible by the group size
        raise TrainingSetupError(f"recipe {recipe.name}: {exc}") from None


def train(
    data: DataSource,
    recipe: Recipe,
    out: Path,
    solvers: SolverLookup,
    model: str | None = None,
    provider: ModelProvider | None = None,
    prompts_dir: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    quiet: bool = False,
) -> TrainOutcome:
    """Train with GRPO and save the model to `out`; each item is prompted through its task's solver prompt
    (`solvers`), and `provider` serves the judge role (default: one built from the settings)."""
    prepare_training_runtime()
    items = require_items(data)
    prompts = PromptLibrary(prompts_dir)
    dataset = to_dataset(items, prompts, reasoning=recipe.reasoning, solvers=solvers)
    model_source = model or recipe.model
    model_path = resolve_model(model_source)
    out.mkdir(parents=True, exist_ok=True)
    args = grpo_config(recipe, out, quiet)

    from transformers import PrinterCallback
    from trl import GRPOTrainer

    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=reward_functions(set(dataset["family"]), recipe, provider, prompts),
        args=args,
        train_dataset=dataset,
        callbacks=list(callbacks),
    )
    if quiet:  # the caller shows progress; don't also print every log dict
        trainer.remove_callback(PrinterCallback)
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    trainer.save_model(str(out))
    outcome = TrainOutcome(
        out=out, model=model_source, data=data.label, train_items=len(items), steps=trainer.state.global_step,
        seconds=round(seconds, 1), final_metrics=last_metrics(trainer.state.log_history),
    )  # fmt: skip
    if trainer.is_world_process_zero():
        write_json_atomic(out / TRAIN_LOG, trainer.state.log_history)
        summary = {**asdict(outcome), "out": str(out), "recipe": recipe.model_dump(), "model_path": model_path}
        write_json_atomic(out / TRAIN_SUMMARY, summary)
    return outcome


def last_metrics(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The last logged step's loss and reward figures (the run summary's headline numbers)."""
    steps = [entry for entry in log_history if "loss" in entry]
    if not steps:
        return {}
    keep = ("loss", "reward", "reward_std", "kl", "completions/mean_length", "completions/clipped_ratio")
    last = steps[-1]
    metrics = {k: last[k] for k in keep if k in last}
    metrics.update({k: v for k, v in last.items() if k.startswith("rewards/") and k.endswith("/mean")})
    # A reward with no applicable row in the step is logged as None (or NaN): not a figure to report.
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and v == v}

"""Training recipes: TOML files naming the base model, prompt style, reward settings and GRPOConfig values.

A recipe is given by name (a file in training/recipes/, e.g. `cpu-smoke`, `gpu`) or by path. Its `[grpo]`
table is passed to `trl.GRPOConfig` as is, so any GRPOConfig field can be set there (or with `--set`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autodata.prompting.resources import package_dir
from autodata.training.errors import TrainingSetupError
from autodata.training.rewards import OnJudgeFailure

RECIPES_DIR = package_dir("autodata.training.recipes")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The recipe's name (file stem).")
    description: str = ""
    model: str = Field(description="Base model: checkpoint dir, Hugging Face id, .gguf file, or 'smollm2-135m-gguf'.")
    reasoning: bool = Field(True, description="Prompt the policy to think step by step (solver prompt's reasoning).")
    judge_concurrency: int = Field(8, ge=1, description="Judge calls in flight while scoring rubric completions.")
    on_judge_failure: OnJudgeFailure = Field(
        "skip", description="'skip': leave the completion unscored (logged, zero advantage; a batch in which every "
        "judgement fails still stops training); 'raise': stop training on the first failure."
    )
    grpo: dict[str, Any] = Field(default_factory=dict, description="trl.GRPOConfig keyword arguments.")


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_path(name_or_path: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    raise TrainingSetupError(
        f"unknown recipe {name_or_path!r}: give a TOML file or one of {', '.join(available_recipes())}"
    )


def load_recipe(name_or_path: str, overrides: dict[str, Any] | None = None) -> Recipe:
    """The recipe, with `overrides` merged into its [grpo] table."""
    path = recipe_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        raw.setdefault("name", path.stem)
        recipe = Recipe.model_validate(raw)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise TrainingSetupError(f"recipe {path} is invalid: {exc}") from None
    if overrides:
        recipe = recipe.model_copy(update={"grpo": {**recipe.grpo, **overrides}})
    return recipe


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with a TOML value (`learning_rate=2e-6`, `bf16=true`); a bare word is a string (`report_to=x`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise TrainingSetupError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed

"""`autodata eval`: sample k completions per item, score them, report mean@k, best@k and truncation per task.

mean@k: the average score of an item's k completions, averaged over items. best@k: the best of the k, averaged
over items. truncation rate: the fraction of completions that used the whole token budget without finishing.
Scores are the training rewards (equivalence for verifiable items, the judge's rubric score for rubric items).
A completion the judge could not grade after retries is left out of the means (never counted as 0) and
reported as unscored; an item with no scored completion is left out of n_items.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodata.llm.models import ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.state.schemas import TaskFamily
from autodata.training.data import (
    DataSource,
    SolverLookup,
    family_of_item,
    prompt_messages,
    require_items,
    rubric_of_item,
)
from autodata.training.errors import JudgeFailure
from autodata.training.model_files import resolve_model
from autodata.training.rewards import RubricJudge, judge_request, verifiable_score

# (stage, done, total): "generate" counts items, "judge" counts judge calls.
ProgressHook = Callable[[str, int, int], None]
EVAL_FILE = "eval.json"


@dataclass
class Completion:
    item: dict[str, Any]
    text: str
    truncated: bool
    score: float | None = None


@dataclass
class EvalOutcome:
    report: dict[str, Any]
    unscored: list[str] = field(default_factory=list)
    seconds: float = 0.0


def default_eval_path(model: str) -> Path:
    """`<model dir>/eval.json` for a checkpoint directory, else eval-<model name>.json here."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path / EVAL_FILE
    return Path(f"eval-{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}.json")


def evaluate(
    model: str,
    data: DataSource,
    k: int,
    max_tokens: int,
    solvers: SolverLookup,
    temperature: float = 0.7,
    batch_size: int = 8,
    reasoning: bool = True,
    seed: int = 0,
    provider: ModelProvider | None = None,
    prompts_dir: str | Path | None = None,
    judge_concurrency: int = 8,
    progress: ProgressHook | None = None,
) -> EvalOutcome:
    from autodata.training.grpo import prepare_training_runtime

    prepare_training_runtime()
    items = require_items(data)
    prompts = PromptLibrary(prompts_dir)
    started = time.monotonic()
    generator = Sampler(resolve_model(model), max_tokens=max_tokens, temperature=temperature, seed=seed)
    completions: list[Completion] = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        messages = [prompt_messages(row, prompts, reasoning, solvers) for row in batch]
        for row, samples in zip(batch, generator.sample(messages, k), strict=True):
            completions.extend(Completion(row, text, truncated) for text, truncated in samples)
        if progress:
            progress("generate", min(start + batch_size, len(items)), len(items))
    unscored = score_completions(completions, RubricJudge(provider, prompts, judge_concurrency), progress, solvers)
    report = {"model": model, "data": data.label, "k": k, "max_tokens": max_tokens, **metrics(completions)}
    return EvalOutcome(report=report, unscored=unscored, seconds=round(time.monotonic() - started, 1))


def score_completions(
    completions: list[Completion], judge: RubricJudge, progress: ProgressHook | None, solvers: SolverLookup
) -> list[str]:
    """Fill in every completion's score; returns one message per completion the judge could not grade."""
    rubric = [c for c in completions if family_of_item(c.item, solvers) is TaskFamily.RUBRIC]
    for c in completions:
        if family_of_item(c.item, solvers) is not TaskFamily.RUBRIC:
            c.score = verifiable_score(c.text, c.item["reference_answer"])
    if not rubric:
        return []
    done = 0

    def judged() -> None:
        nonlocal done
        done += 1
        if progress:
            progress("judge", done, len(rubric))

    graded = asyncio.run(judge.grade_all([_judge_request(c) for c in rubric], on_done=judged))
    unscored = []
    for c, g in zip(rubric, graded, strict=True):
        if isinstance(g, JudgeFailure):
            unscored.append(f"item {c.item['id']}: {g}")
        else:
            c.score = g
    return unscored


def _judge_request(c: Completion) -> dict[str, Any]:
    item = c.item
    return judge_request(item["question"], item.get("context") or "", c.text, rubric_of_item(item), item["id"], "eval")


def metrics(completions: list[Completion]) -> dict[str, Any]:
    """{"per_task": {task: summary}, "overall": summary}, summaries as in the module docstring."""
    by_task: dict[str, list[Completion]] = defaultdict(list)
    for c in completions:
        by_task[c.item["task"]].append(c)
    per_task = {task: summarize(group) for task, group in sorted(by_task.items())}
    return {"per_task": per_task, "overall": summarize(completions)}


def summarize(completions: list[Completion]) -> dict[str, Any]:
    scores: dict[str, list[float]] = defaultdict(list)
    for c in completions:
        if c.score is not None:
            scores[c.item["id"]].append(c.score)
    per_item = [s for s in scores.values() if s]
    return {
        "n_items": len(per_item),
        "mean_at_k": statistics.fmean(statistics.fmean(s) for s in per_item) if per_item else None,
        "best_at_k": statistics.fmean(max(s) for s in per_item) if per_item else None,
        "truncation_rate": sum(c.truncated for c in completions) / len(completions) if completions else None,
    }


class Sampler:
    """k sampled completions per chat prompt with transformers, noting which ones hit the token budget."""

    def __init__(self, model_path: str, max_tokens: int, temperature: float, seed: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(seed)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
        self.max_tokens, self.temperature = max_tokens, temperature
        self.stop_ids = self._stop_ids()

    def _stop_ids(self) -> set[int]:
        configured = self.model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}

    def sample(self, conversations: list[list[dict[str, str]]], k: int) -> list[list[tuple[str, bool]]]:
        import torch

        texts = [
            self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in conversations
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                **batch, do_sample=self.temperature > 0, temperature=self.temperature or None, top_p=1.0,
                max_new_tokens=self.max_tokens, num_return_sequences=k, pad_token_id=self.tokenizer.pad_token_id,
            )  # fmt: skip
        generated = output[:, batch["input_ids"].shape[1] :].tolist()
        samples = [self._decode(ids) for ids in generated]
        return [samples[i * k : (i + 1) * k] for i in range(len(conversations))]

    def _decode(self, ids: list[int]) -> tuple[str, bool]:
        finished = next((n for n, token in enumerate(ids) if token in self.stop_ids), None)
        if finished is not None:
            return self.tokenizer.decode(ids[:finished], skip_special_tokens=True), False
        return self.tokenizer.decode(ids, skip_special_tokens=True), len(ids) >= self.max_tokens

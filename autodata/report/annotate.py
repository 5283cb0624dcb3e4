"""`autodata annotate RUN_DIR`: a question-type taxonomy of a run's items, written to annotations.json.

Two phases with one configurable model role (default: the orchestrator's model):
1. discover: a sample of items stratified by challenge score (strong avg minus weak avg, so easy and hard
   items are both seen) is shown in batches; the model proposes types for each batch; one more call
   consolidates all proposals into a small set of non-overlapping types (plus `Other`, so every item fits);
2. classify: every item is put into exactly one type. The type field is constrained to the taxonomy's
   names; an answer that still does not parse after the model layer's re-asks is counted as a parse
   failure and the item stays unclassified (shown as such in the report), never guessed.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from autodata.llm.models import CallResult, ModelProvider
from autodata.prompting.library import PromptLibrary
from autodata.engine.rundir import ANNOTATIONS, RunDataError, load_run, write_json_atomic
from autodata.state.annotation import ProposedTypes, QuestionType, type_choice_schema
from autodata.state.schemas import RoleUsage

OTHER = QuestionType(name="Other", description="Questions that fit none of the other types.")
_PARSE_ERRORS = ("MalformedOutputError", "ValidationError", "OutputParserException")
T = TypeVar("T")


class AnnotateError(ValueError):
    """The taxonomy could not be built; the message says which phase failed and why."""


@dataclass
class AnnotateOptions:
    role: str = "orchestrator"
    sample_size: int = 200  # METHOD.md section 7: types discovered from ~200 items stratified by challenge
    strata: int = 3
    batch_size: int = 8
    max_types: int = 8
    concurrency: int = 4
    seed: int = 0
    prompts_dir: str | None = None


def challenge(item: dict[str, Any]) -> float:
    return float(item.get("strong_avg") or 0.0) - float(item.get("weak_avg") or 0.0)


def stratified_sample(items: list[dict[str, Any]], size: int, strata: int, seed: int) -> list[tuple[int, dict]]:
    """(stratum, item) pairs: items ranked by challenge, cut into equal-count strata, an equal share from each."""
    ranked = sorted(items, key=challenge)
    strata = max(1, min(strata, len(ranked)))
    bands = [ranked[i * len(ranked) // strata : (i + 1) * len(ranked) // strata] for i in range(strata)]
    rng = random.Random(seed)
    sample = []
    for index, band in enumerate(bands):
        quota = size // strata + (index < size % strata)
        sample += [(index, item) for item in rng.sample(band, min(quota, len(band)))]
    return sample


def clean_types(types: list[QuestionType], max_types: int) -> list[QuestionType]:
    """Trimmed names, no duplicates (case-insensitive), at most `max_types`, then `Other` if missing."""
    seen: set[str] = set()
    kept: list[QuestionType] = []
    for t in types:
        name = re.sub(r"\s+", " ", t.name).strip()
        if name and name.lower() not in seen and len(kept) < max_types:
            seen.add(name.lower())
            kept.append(QuestionType(name=name, description=t.description.strip()))
    return kept if OTHER.name.lower() in seen else [*kept, OTHER]


def _is_parse_failure(error: str) -> bool:
    return error.startswith(_PARSE_ERRORS)


@dataclass
class Annotation:
    role: str
    model: str
    options: dict[str, Any]
    sample: list[dict[str, Any]] = field(default_factory=list)
    proposed: list[QuestionType] = field(default_factory=list)
    types: list[QuestionType] = field(default_factory=list)
    assignments: dict[str, str | None] = field(default_factory=dict)
    unclassified: list[dict[str, str]] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    usage: RoleUsage = field(default_factory=RoleUsage)

    def counts(self) -> dict[str, int]:
        found = Counter(label for label in self.assignments.values() if label is not None)
        return {t.name: found.get(t.name, 0) for t in self.types}

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "model": self.model,
            "options": self.options,
            "sample": self.sample,
            "proposed": [t.model_dump() for t in self.proposed],
            "types": [t.model_dump() for t in self.types],
            "counts": self.counts(),
            "assignments": self.assignments,
            "unclassified": self.unclassified,
            "failures": {key: self.failures.get(key, 0) for key in ("discover", "classify_parse", "classify_call")},
            "usage": self.usage.model_dump(),
        }


class Annotator:
    def __init__(self, provider: ModelProvider, options: AnnotateOptions) -> None:
        self.provider = provider
        self.options = options
        self.prompts = PromptLibrary(options.prompts_dir)
        self.semaphore = asyncio.Semaphore(max(1, options.concurrency))

    async def _call(self, result: Awaitable[CallResult], annotation: Annotation) -> CallResult:
        async with self.semaphore:
            outcome = await result
        annotation.usage = annotation.usage.plus(outcome.usage)
        return outcome

    async def discover(self, items: list[dict[str, Any]], annotation: Annotation) -> None:
        o = self.options
        sample = stratified_sample(items, o.sample_size, o.strata, o.seed)
        annotation.sample = [{"id": item.get("id"), "stratum": s, "challenge": round(challenge(item), 4)}
                             for s, item in sample]  # fmt: skip
        batches = [[item for _, item in sample[i : i + o.batch_size]] for i in range(0, len(sample), o.batch_size)]
        results = await asyncio.gather(*(
            self._call(self.provider.structured(
                o.role, ProposedTypes, self.prompts.messages("annotate_discover", items=batch, max_types=o.max_types),
                metadata={"phase": "discover", "batch": index},
            ), annotation)
            for index, batch in enumerate(batches)
        ))  # fmt: skip
        for result in results:
            if result.ok:
                annotation.proposed += result.value.types
            else:
                annotation.failures["discover"] += 1
        if not annotation.proposed:
            errors = "; ".join(sorted({r.error for r in results if r.error}))
            detail = errors or "the model proposed none"
            raise AnnotateError(f"discovery produced no question types ({len(results)} call(s); {detail})")

    async def consolidate(self, annotation: Annotation) -> None:
        o = self.options
        proposed = clean_types(annotation.proposed, max_types=len(annotation.proposed))
        messages = self.prompts.messages("annotate_consolidate", proposed=proposed, max_types=o.max_types)
        result = await self._call(
            self.provider.structured(o.role, ProposedTypes, messages, metadata={"phase": "consolidate"}), annotation
        )
        if not result.ok:
            raise AnnotateError(f"consolidating {len(proposed)} proposed types failed: {result.error}")
        annotation.types = clean_types(result.value.types, o.max_types)

    async def classify(self, items: list[dict[str, Any]], annotation: Annotation) -> None:
        schema = type_choice_schema([t.name for t in annotation.types])

        async def one(item: dict[str, Any]) -> None:
            messages = self.prompts.messages("annotate_classify", types=annotation.types, item=item)
            result = await self._call(self.provider.structured(
                self.options.role, schema, messages, metadata={"phase": "classify", "item_id": item.get("id")}
            ), annotation)  # fmt: skip
            if result.ok:
                annotation.assignments[item["id"]] = result.value.type
                return
            annotation.assignments[item["id"]] = None
            kind = "classify_parse" if _is_parse_failure(result.error) else "classify_call"
            annotation.failures[kind] += 1
            annotation.unclassified.append({"id": item["id"], "error": result.error})

        await asyncio.gather(*(one(item) for item in items))

    async def annotate(self, items: list[dict[str, Any]]) -> Annotation:
        o = self.options
        annotation = Annotation(role=o.role, model=self.provider.model_name(o.role), options=vars(o).copy())
        if items:
            await self.discover(items, annotation)
            await self.consolidate(annotation)
            await self.classify(items, annotation)
        return annotation


async def annotate_run(run_dir: str | Path, provider: ModelProvider, options: AnnotateOptions) -> Annotation:
    """Annotate a run directory's items and write annotations.json into it."""
    try:
        run = load_run(run_dir)
    except RunDataError as exc:
        raise AnnotateError(str(exc)) from None
    annotation = await Annotator(provider, options).annotate(run.items)
    write_json_atomic(run.path / ANNOTATIONS, annotation.as_dict())
    return annotation

"""The dataset card of a published run: what the card says, gathered from the run directory, and its rendering.

`card_data` reads a finished run directory (config.json, stats.json, items.jsonl, trajectories.jsonl,
grades.jsonl when `autodata grade` has run) and a sources manifest when one names the run's documents, and
returns everything the card shows as plain values: the Hub's YAML metadata and the body's tables, each row
already formatted, so the template (prompts/dataset_card.md, a file users may change) only lays them out.
The template renders in the prompts' sandbox (`autodata.prompting`), like every other template here.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autodata.engine.grading import read_grades
from autodata.engine.rundir import RunData
from autodata.prompting.library import PromptLibrary, check_template, split_prompt
from autodata.prompting.sandbox import RenderLimits, build_environment, render
from autodata.report.tables import FRESH, fmt, filter_attrition, summarize, table1_cells, table1_row

CARD_PROMPT = "dataset_card"
MANIFEST = "MANIFEST.md"
DATA_DIR = "data"
SPLIT = "train"
# Licenses as the Hub's metadata names them, keyed by how a manifest row starts.
HUB_LICENSES = (("cc by-sa 4.0", "cc-by-sa-4.0"), ("cc by 4.0", "cc-by-4.0"), ("cc0", "cc0-1.0"), ("mit", "mit"),
                ("apache-2.0", "apache-2.0"))  # fmt: skip
# The Hub's size buckets: (upper bound, label).
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"))  # fmt: skip
TASK_CATEGORIES = {"rubric": ["question-answering", "text-generation"], "verifiable": ["question-answering"]}


class CardError(ValueError):
    """The card cannot be made (its template is missing or unsafe); the message says why."""


@dataclass(frozen=True)
class SourceLicense:
    """One source document the items came from, as a manifest row describes it."""

    file: str
    title: str
    origin: str
    license: str


@dataclass
class CardData:
    """Everything the dataset card shows; tables are lists of rows of display strings."""

    repo_id: str
    task: str
    task_description: str
    family: str
    method: str
    item_count: int
    document_count: int
    license: str
    size_category: str
    task_categories: list[str]
    config_path: str  # the data files of the task's config, relative to the dataset folder
    features: list[list[str]]  # (column, type)
    models: list[list[str]]  # (role, model)
    samples: str
    max_rounds: str
    prompts_hash: str
    seed: str
    policy: list[list[str]]  # (threshold, value)
    preset: str
    rounds: str  # total rounds, mean per accepted item
    rounds_per_accepted: list[list[str]]  # (rounds, items)
    rejections: list[list[str]]  # (reason, rounds)
    table1: list[str] | None  # Table 1's cells when the run was graded with fresh samples
    table1_columns: list[str]
    in_loop: list[str]  # weak avg, strong avg, gap as the loop measured them
    cost_total: str
    cost_per_item: str
    attrition: list[list[str]]  # (filter, before, removed, after)
    sources: list[list[str]]  # (file, title, origin, license)
    unlisted_sources: int  # source documents no manifest row names
    limitations: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """The card's YAML header, as the Hub reads it."""
        return {
            "license": self.license,
            "language": ["en"],
            "task_categories": self.task_categories,
            "size_categories": [self.size_category],
            "tags": ["synthetic", "agentic-self-instruct", self.task],
            "pretty_name": self.repo_id.rsplit("/", 1)[-1],
            "configs": [{
                "config_name": self.task, "default": True,
                "data_files": [{"split": SPLIT, "path": f"{self.config_path}/{SPLIT}-*.parquet"}],
            }],
        }  # fmt: skip


def size_category(count: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if count < bound), "n>10M")


def hub_license(text: str) -> str | None:
    """The Hub's name for a manifest's license text, when it starts with one the Hub knows."""
    lowered = text.strip().lower()
    return next((hub for prefix, hub in HUB_LICENSES if lowered.startswith(prefix)), None)


def find_manifest(source_paths: list[str]) -> Path | None:
    """The MANIFEST.md nearest above the run's source documents (the corpora folder's), if there is one."""
    for source in source_paths:
        for folder in Path(source).resolve().parents:
            if (folder / MANIFEST).is_file():
                return folder / MANIFEST
    return None


def read_manifest(path: Path) -> dict[str, SourceLicense]:
    """A corpora manifest's rows by file path: every markdown table with `file` and `license` columns."""
    rows: dict[str, SourceLicense] = {}
    header: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
        elif not re.fullmatch(r"[-: ]*", "".join(cells)) and "file" in header and "license" in header:
            row = dict(zip(header, cells, strict=False))
            rows[row["file"]] = SourceLicense(
                row["file"], row.get("title") or row.get("kind", ""), row.get("origin repo", ""), row["license"]
            )
    return rows


def sources_root(run: RunData, manifest: Path | None = None) -> Path | None:
    """The folder a published row's `source_path` is written relative to: the manifest's (so paths read as its
    rows do), else the folder all the run's sources are in; None when the run names no source."""
    paths = sorted({str(item.get("source_path") or "") for item in run.items} - {""})
    manifest = manifest or find_manifest(paths)
    if manifest is not None:
        return manifest.resolve().parent
    return Path(os.path.commonpath([str(Path(path).resolve().parent) for path in paths])) if paths else None


def _manifest_row(source_path: str, manifest: dict[str, SourceLicense]) -> SourceLicense | None:
    posix = Path(source_path).as_posix()
    return next((row for file, row in manifest.items() if posix == file or posix.endswith("/" + file)), None)


def _sources(run: RunData, manifest_path: Path | None) -> tuple[list[SourceLicense], int]:
    """The manifest rows of the documents the items came from, and how many documents no row names."""
    paths = sorted({str(item.get("source_path") or "") for item in run.items} - {""})
    manifest_path = manifest_path or find_manifest(paths)
    manifest = read_manifest(manifest_path) if manifest_path else {}
    found = [_manifest_row(path, manifest) for path in paths]
    return [row for row in found if row], sum(1 for row in found if row is None)


def _license(sources: list[SourceLicense], unlisted: int, chosen: str | None) -> str:
    """The license the metadata names: the one given, else the sources' one license the Hub knows, else other."""
    if chosen:
        return chosen
    licenses = {hub_license(source.license) for source in sources}
    return licenses.pop() if len(licenses) == 1 and None not in licenses and not unlisted else "other"


def _models(run: RunData) -> list[list[str]]:
    roles = (run.config.get("settings") or {}).get("roles") or {}
    named = {role: str(cfg.get("model") or "") for role, cfg in roles.items()}
    for item in run.items[:1]:
        named = {**(item.get("models") or {}), **{role: model for role, model in named.items() if model}}
    used = (run.stats.get("usage") or {}).keys() or named.keys()
    return [[role, named.get(role, "–")] for role in named if role in used or not run.stats.get("usage")]


def _policy(run: RunData) -> tuple[str, list[list[str]]]:
    policy = dict((run.config.get("context") or {}).get("policy") or {})
    preset = str(policy.pop("preset", "") or "–")
    return preset, [[name, str(value)] for name, value in policy.items() if value is not None]


def _usd(value: float | None) -> str:
    return "unknown (prices not set for every role)" if value is None else f"${value:.4f}"


def _limitations(run: RunData, graded: bool) -> list[str]:
    reviewed = sum(1 for item in run.items if item.get("reviews"))
    review_note = (
        f"a person reviewed {reviewed} of {len(run.items)} items before they were kept (`generate --review`); "
        "the rest were checked by models only." if reviewed
        else "no person reviewed the items."
    )
    notes = [
        "Questions, reference answers and rubrics were written by models and checked by models; " + review_note,
        "Difficulty is relative to the weak and strong solver models of this run; other models may find the "
        "items easier or harder.",
    ]
    if not graded:
        notes.append("Scores are in-loop: an item was accepted because its scores passed the policy, so they run "
                     "high; `autodata grade` measures them again with fresh samples.")  # fmt: skip
    if run.family == "rubric":
        notes.append("Rubric scores come from a model judge, which can be wrong or inconsistent.")
    return notes


def card_data(
    run: RunData, repo_id: str, features: dict[str, str], manifest: Path | None = None, license: str | None = None,
    task_description: str = "",
) -> CardData:
    """The card of `run` published as `repo_id`; `features` maps each dataset column to its type,
    `task_description` is the task's one line (the task registry's)."""
    summary = summarize(run)
    grades = read_grades(run.path)
    table1 = table1_row(run, grades)
    sources, unlisted = _sources(run, manifest)
    context = run.config.get("context") or {}
    preset, policy = _policy(run)
    rounds = sorted(Counter(int(r) for r in run.stats.get("rounds_per_accepted") or []).items())
    rejections = {**(run.stats.get("rejection_reasons") or {}), **(run.stats.get("rejection_rules") or {})}
    return CardData(
        repo_id=repo_id, task=run.task, task_description=task_description.rstrip("."), family=run.family,
        method=run.method, item_count=len(run.items), document_count=summary.documents,
        license=_license(sources, unlisted, license), size_category=size_category(len(run.items)),
        task_categories=TASK_CATEGORIES.get(run.family, ["question-answering"]),
        config_path=f"{DATA_DIR}/{run.task}", features=[[name, kind] for name, kind in features.items()],
        models=_models(run),
        samples=f"{context.get('weak_samples', context.get('samples', '–'))} weak + "
                f"{context.get('strong_samples', context.get('samples', '–'))} strong",
        max_rounds=str(context.get("max_rounds", "–")), prompts_hash=str(run.config.get("prompts_hash") or "–"),
        seed=str(run.config.get("seed", "–")), policy=policy, preset=preset,
        rounds=f"{run.stats.get('rounds', sum(len(t.get('rounds') or []) for t in run.trajectories))} rounds in all; "
               f"{fmt(summary.mean_rounds_per_accepted, 2)} per accepted item",
        rounds_per_accepted=[[str(n), str(count)] for n, count in rounds],
        rejections=[[reason, str(count)] for reason, count in sorted(rejections.items())],
        table1=table1_cells(table1)[1:] if table1.scores == FRESH else None,
        table1_columns=["method", "scores", "items", "weak avg", "strong avg", "gap", "rounds", "question chars",
                        "rubric items"],
        in_loop=[fmt(summary.weak_avg), fmt(summary.strong_avg), fmt(summary.gap)],
        cost_total=_usd(summary.cost.total if summary.cost else None),
        cost_per_item=_usd(summary.cost.per_accepted_item if summary.cost else None),
        attrition=[[row.filter, str(row.before), str(row.removed), str(row.after)] for row in filter_attrition(run)],
        sources=[[s.file, s.title, s.origin, s.license] for s in sources], unlisted_sources=unlisted,
        limitations=_limitations(run, table1.scores == FRESH),
    )  # fmt: skip


def render_card(data: CardData, prompts_dir: str | Path | None = None) -> str:
    """The card: the YAML header, then the template's body (the part under its `<!-- user -->` line; the part
    above it is notes for whoever edits the file) rendered in the prompts' sandbox."""
    library = PromptLibrary(prompts_dir)
    try:
        path = library.path(CARD_PROMPT)
        _, body = split_prompt(library.text(CARD_PROMPT), str(path))
        check_template(body, str(path))
        template = build_environment({}).from_string(body)
        text = render(template, asdict(data), RenderLimits())
    except Exception as exc:  # a user's template: any failure is theirs to fix, said in one line
        raise CardError(f"dataset card template: {exc}") from None
    header = yaml.safe_dump(data.metadata(), sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n{text.strip()}\n"

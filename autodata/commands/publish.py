"""`autodata publish`: a run's items as a dataset others can use, with a dataset card that tells its story.

To the Hugging Face Hub (the default): a folder with the items as parquet shards under `data/<task>/` (typed
features: the run's `dataset/` export, whose columns the task registry declares) and README.md, the dataset
card (prompts/dataset_card.md rendered with the run's numbers), pushed with `huggingface_hub` (create the
repository, then commit the folder). `--dry-run DIR` writes the same folder and pushes nothing.

To LangSmith (`--to langsmith`): a dataset of examples, one per item (inputs: question and context; outputs:
the reference answer; metadata: rubric, scores, provenance), for LangSmith evaluations.

A missing credential, a refused one and an unreachable service each end the command with one line and exit 2.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from autodata.commands.support import STORAGE_ERRORS, console, fail
from autodata.engine.rundir import DATASET, RunData, RunDataError, RunDirectory, RunDirectoryError, load_run
from autodata.report.card import DATA_DIR, SPLIT, CardError, card_data, render_card, sources_root
from autodata.tasks import TASKS

README = "README.md"
ROWS_PER_SHARD = 50_000
# What an item keeps as LangSmith metadata besides its rubric and scores: where it came from.
PROVENANCE = ("id", "task", "family", "method", "source_doc_id", "source_path", "source_hash", "source_span",
              "models", "prompts_hash", "rounds", "question_type", "reasoning_skills")  # fmt: skip
SCORES = ("weak_scores", "strong_scores", "weak_avg", "strong_avg", "gap")


class Target(str, Enum):
    hub = "hub"
    langsmith = "langsmith"


class PublishError(Exception):
    """Publishing stopped for a reason the user can fix; the message is the one line they see."""


# ---- the dataset folder ----------------------------------------------------------------------------------------


def run_dataset(run: RunData) -> Any:
    """The run's items as a typed `datasets.Dataset`: its `dataset/` export, rebuilt first (with the columns the
    task registry declares) when it is missing or does not hold every item of items.jsonl."""
    from datasets import disable_progress_bars, load_from_disk

    disable_progress_bars()
    target = run.path / DATASET
    if not target.is_dir() or _row_count(target) != len({item.get("id") for item in run.items}):
        spec = TASKS.get(run.task)
        run_dir = RunDirectory(run.path)
        with run_dir.lock():  # the export rewrites dataset/: one writer at a time
            run_dir.save_dataset(spec.batch.dataset_columns if spec else ())
    return load_from_disk(str(target))


def _row_count(dataset_dir: Path) -> int | None:
    from datasets import load_from_disk

    try:
        return load_from_disk(str(dataset_dir)).num_rows
    except (FileNotFoundError, ValueError):
        return None


def feature_type(feature: Any) -> str:
    """A column's type as the card shows it: `string`, `list<float64>`."""
    if hasattr(feature, "feature"):
        return f"list<{feature_type(feature.feature)}>"
    return str(getattr(feature, "dtype", feature))


def relative_sources(dataset: Any, root: Path | None) -> Any:
    """`dataset` with each `source_path` relative to `root`: a published row never names a folder of the
    machine that made it (`source_hash` still identifies the document)."""
    if root is None:
        return dataset

    def relative(row: dict[str, Any]) -> dict[str, Any]:
        path = Path(row["source_path"] or "")
        if path.is_absolute() and path.resolve().is_relative_to(root):
            return {"source_path": path.resolve().relative_to(root).as_posix()}
        return {"source_path": row["source_path"]}

    return dataset.map(relative, keep_in_memory=True)


def write_shards(dataset: Any, folder: Path, rows_per_shard: int) -> list[Path]:
    """`dataset` as parquet shards `train-0000i-of-0000n.parquet` in `folder` (one, empty, for no rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, math.ceil(dataset.num_rows / rows_per_shard))
    paths = []
    for index in range(count):
        path = folder / f"{SPLIT}-{index:05d}-of-{count:05d}.parquet"
        dataset.shard(count, index, contiguous=True).to_parquet(str(path))
        paths.append(path)
    return paths


def _prepare_folder(out: Path) -> None:
    """An empty folder, or one a previous publish wrote (its data and card are replaced); anything else is
    refused, so a mistyped --dry-run never deletes a user's files."""
    if out.exists() and not out.is_dir():
        raise PublishError(f"--dry-run {out} is a file; give a folder")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in (README, DATA_DIR))
        if others:
            raise PublishError(f"--dry-run {out} holds other files ({', '.join(others[:3])}); give an empty folder")
        shutil.rmtree(out / DATA_DIR, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def write_dataset_folder(
    run: RunData, out: Path, repo_id: str, *, prompts_dir: Path | None = None, manifest: Path | None = None,
    license: str | None = None, rows_per_shard: int = ROWS_PER_SHARD,
) -> list[Path]:  # fmt: skip
    """The folder the Hub receives: parquet shards under data/<task>/ and the card as README.md."""
    _prepare_folder(out)
    dataset = relative_sources(run_dataset(run), sources_root(run, manifest))
    features = {name: feature_type(feature) for name, feature in dataset.features.items()}
    spec = TASKS.get(run.task)
    card = card_data(run, repo_id, features, manifest=manifest, license=license,
                     task_description=spec.description if spec else "")  # fmt: skip
    shards = write_shards(dataset, out / card.config_path, rows_per_shard)
    (out / README).write_text(render_card(card, prompts_dir), encoding="utf-8")
    return shards


# ---- the Hugging Face Hub --------------------------------------------------------------------------------------


def hub_token(given: str | None) -> str:
    from huggingface_hub import get_token

    token = given or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError("no Hugging Face token: set HF_TOKEN, pass --token, or run `hf auth login`")
    return token


def is_network_error(exc: BaseException) -> bool:
    """A failure to reach a service: an OS-level connection error, or the transport error of an HTTP client
    (huggingface_hub brings its own fork of httpx, so its classes are matched by name)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return isinstance(exc, ConnectionError | TimeoutError) or bool(names & {"TransportError", "RequestError"})


def push_to_hub(folder: Path, repo_id: str, token: str, private: bool, message: str) -> str:
    """Create the dataset repository (if it is not there) and commit the folder; the commit's URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now: huggingface_hub reads it once, at import
    api = HfApi(endpoint=endpoint, token=token)
    where = endpoint or "https://huggingface.co"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type="dataset", commit_message=message
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            raise PublishError(f"the Hub at {where} refused the token (401 Unauthorized): check HF_TOKEN") from None
        if status == 403:
            raise PublishError(f"the token may not write to {repo_id} (403 Forbidden)") from None
        raise PublishError(f"the Hub at {where} answered {status}: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:  # the Hub refused the card's metadata
        raise PublishError(f"the Hub refused the dataset card: {' '.join(str(exc).split())}") from None
    except Exception as exc:
        if not is_network_error(exc):
            raise
        raise PublishError(f"cannot reach the Hub at {where}: {type(exc).__name__}: {exc}") from None
    return str(commit.commit_url if hasattr(commit, "commit_url") else commit)


# ---- LangSmith -------------------------------------------------------------------------------------------------


def langsmith_example(item: dict[str, Any]) -> dict[str, Any]:
    """One item as a LangSmith example."""
    return {
        "inputs": {"question": item.get("question") or "", "context": item.get("context") or ""},
        "reference_outputs": {"reference_answer": item.get("reference_answer") or ""},
        "metadata": {
            "rubric": item.get("rubric") or [],
            "scores": {key: item.get(key) for key in SCORES},
            "provenance": {key: item.get(key) for key in PROVENANCE if key in item},
            "reviews": item.get("reviews") or [],
        },
    }


def push_to_langsmith(run: RunData, name: str, description: str) -> int:
    """Create the LangSmith dataset `name` with one example per item; the number of examples."""
    from langsmith import Client
    from langsmith.utils import LangSmithAuthError, LangSmithConflictError, LangSmithConnectionError, LangSmithError

    api_key = os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY")
    if not api_key:
        raise PublishError("no LangSmith API key: set LANGSMITH_API_KEY")
    endpoint = os.environ.get("LANGSMITH_ENDPOINT") or os.environ.get("LANGCHAIN_ENDPOINT") or None
    where = endpoint or "https://api.smith.langchain.com"
    seen: set[str] = set()
    items = [item for item in run.items if not (item.get("id") in seen or seen.add(item.get("id")))]
    # The client logs warnings of its own (an unreachable /info, say): the command reports one line instead.
    with quiet_logger("langsmith"):
        try:
            # No tracing here, so no background batch thread.
            client = Client(api_url=endpoint, api_key=api_key, auto_batch_tracing=False)
            dataset = client.create_dataset(name, description=description)
            if items:
                client.create_examples(dataset_id=dataset.id, examples=[langsmith_example(item) for item in items])
        except LangSmithAuthError:
            raise PublishError(f"LangSmith at {where} refused the API key (401 Unauthorized): check "
                               "LANGSMITH_API_KEY") from None  # fmt: skip
        except LangSmithConflictError:
            raise PublishError(f"LangSmith already has a dataset named {name!r}; choose another --dataset") from None
        except LangSmithConnectionError:
            raise PublishError(f"cannot reach LangSmith at {where} (connection failed)") from None
        except LangSmithError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PublishError(f"LangSmith at {where}: {first}") from None
    return len(items)


@contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Only errors from logger `name` while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# ---- the command -----------------------------------------------------------------------------------------------


def _load(run_dir: Path) -> RunData:
    run = load_run(run_dir)
    if not run.items:
        raise PublishError(f"{run_dir} has no accepted items to publish")
    return run


def _publish_to_hub(run: RunData, repo_id: str | None, dry_run: Path | None, token: str | None, private: bool,
                    **folder_options: Any) -> None:  # fmt: skip
    if dry_run is None and not repo_id:
        raise PublishError("give --repo-id ORG/NAME (or --dry-run DIR to write the folder only)")
    name = repo_id or f"local/{dry_run.name if dry_run else run.name}"
    if dry_run is not None:
        shards = write_dataset_folder(run, dry_run, name, **folder_options)
        console.print(f"dataset folder: [cyan]{dry_run}[/] ({len(shards)} shard(s), README.md); nothing pushed")
        return
    token = hub_token(token)
    with tempfile.TemporaryDirectory(prefix="autodata-publish-") as scratch:
        folder = Path(scratch) / "dataset"
        write_dataset_folder(run, folder, name, **folder_options)
        url = push_to_hub(folder, name, token, private, f"autodata publish: {len(run.items)} items of {run.name}")
    console.print(f"pushed {len(run.items)} item(s) to [cyan]{name}[/]: {url}", soft_wrap=True)


TargetOption = Annotated[Target, typer.Option("--to", help="Where: the Hugging Face Hub, or a LangSmith dataset.")]
RepoOption = Annotated[str | None, typer.Option("--repo-id", help="Hub dataset repository, ORG/NAME.")]
DryRunOption = Annotated[
    Path | None, typer.Option("--dry-run", help="Write the dataset folder (parquet + card) here; push nothing.")
]
DatasetOption = Annotated[str | None, typer.Option("--dataset", help="LangSmith dataset name (with --to langsmith).")]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="Hub token (default: HF_TOKEN, then the one `hf auth login` saved).")
]
LicenseOption = Annotated[
    str | None, typer.Option("--license", help="The card's license (default: the sources' one license when a "
                             "manifest names it, else `other`).")
]  # fmt: skip
ManifestOption = Annotated[
    Path | None, typer.Option("--manifest", help="Sources manifest naming each document's license (default: the "
                              "MANIFEST.md nearest above the sources).")
]  # fmt: skip
PromptsOption = Annotated[Path | None, typer.Option("--prompts", help="Folder with your own dataset_card.md.")]
ShardOption = Annotated[int, typer.Option("--rows-per-shard", min=1, help="Rows per parquet shard.")]


def publish(
    run_dir: Annotated[Path, typer.Argument(help="Finished run directory whose items to publish.")],
    to: TargetOption = Target.hub,
    repo_id: RepoOption = None,
    dry_run: DryRunOption = None,
    dataset: DatasetOption = None,
    token: TokenOption = None,
    private: Annotated[bool, typer.Option("--private", help="Create the Hub repository private.")] = False,
    license: LicenseOption = None,
    manifest: ManifestOption = None,
    prompts_dir: PromptsOption = None,
    rows_per_shard: ShardOption = ROWS_PER_SHARD,
) -> None:
    """Publish a run's items: to the Hugging Face Hub as parquet with a dataset card, or as a LangSmith dataset."""
    try:
        run = _load(run_dir)
        if to is Target.langsmith:
            if not dataset:
                raise PublishError("give --dataset NAME for --to langsmith")
            count = push_to_langsmith(run, dataset, f"Autodata {run.task} items from run {run.name}")
            console.print(f"LangSmith dataset [cyan]{dataset}[/]: {count} example(s)")
            return
        _publish_to_hub(run, repo_id, dry_run, token, private, prompts_dir=prompts_dir, manifest=manifest,
                        license=license, rows_per_shard=rows_per_shard)  # fmt: skip
    except (PublishError, CardError, RunDataError, RunDirectoryError, *STORAGE_ERRORS) as exc:
        fail(exc)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)

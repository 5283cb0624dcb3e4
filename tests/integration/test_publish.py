"""`autodata publish` as users run it: a generated run directory published as a folder `datasets` loads, pushed
to a loopback stand-in of the Hugging Face Hub (the requests `huggingface_hub` really makes), and to a loopback
stand-in of LangSmith's dataset API; a missing, refused or unreachable credential ends with one line, exit 2."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.corpus import iter_documents
from autodata.engine.rundir import RunDirectory, load_run
from autodata.llm.models import ModelProvider
from autodata.llm.settings import load_settings
from autodata.report.card import card_data, render_card
from autodata.state.schemas import ROLES
from autodata.tasks import task_spec
from autodata.tasks.runner import GenerateOptions, Generator
from tests.support.fake_openai import unused_port
from tests.support.graph_script import per_document_script
from tests.support.hub_standin import HubStandIn, card_metadata
from tests.support.langsmith_datasets_standin import LangSmithDatasetsStandIn
from tests.support.scripted import ScriptedChatModel

pytestmark = pytest.mark.integration
DOCS = 3
# USD per million tokens for every role, and each role's model named after it.
SETTINGS_ENV = {"AUTODATA_PRICE_INPUT": "2.0", "AUTODATA_PRICE_OUTPUT": "8.0",
                "AUTODATA_BASE_URL": "http://127.0.0.1:9/v1",
                **{f"AUTODATA_{role.upper()}_MODEL": f"{role}-model" for role in ROLES}}
LICENSE = "CC BY 4.0 (repo LICENSE)"
MANIFEST = """# Corpora manifest

## papers/

| file | words | title | origin repo | path | commit | license |
|---|---|---|---|---|---|---|
{rows}
"""


def write_corpus(root: Path) -> Path:
    """Papers under corpora/papers/, with a manifest naming each one's license (the shared corpora's format)."""
    papers = root / "corpora" / "papers"
    papers.mkdir(parents=True)
    rows = []
    for i in range(DOCS):
        (papers / f"doc{i}.md").write_text(f"# Paper {i}\n\nTopic number {i} is about a distinct subject {i * 7}.")
        rows.append(f"| papers/doc{i}.md | 12 | Paper {i} | example/papers | doc{i}.md | abc123 | {LICENSE} |")
    (root / "corpora" / "MANIFEST.md").write_text(MANIFEST.format(rows="\n".join(rows)))
    return papers


async def generate_run(root: Path) -> Path:
    """A finished cs-research run with priced roles, made by the real graph with scripted models."""
    settings = load_settings(env=SETTINGS_ENV).model_copy(update={"retry_initial_wait": 0.0})
    script = per_document_script()
    models = {role: ScriptedChatModel(role=role, script=script) for role in ROLES}
    provider = ModelProvider(settings, chat_models=models)
    run_dir = RunDirectory(root / "run")
    generator = Generator(GenerateOptions(task="cs-research", samples=2, max_rounds=2), provider, run_dir)
    await generator.run(iter_documents(write_corpus(root), max_chars=2000))
    return run_dir.path


@pytest.fixture(scope="module")
def run_path(tmp_path_factory) -> Path:
    path = asyncio.run(generate_run(tmp_path_factory.mktemp("publish")))
    first = json.loads((path / "items.jsonl").read_text().splitlines()[0])
    # `autodata grade`'s rows for one item: Table 1 is then fresh-graded.
    (path / "grades.jsonl").write_text(json.dumps({"item_id": first["id"], "weak_avg": 0.1, "strong_avg": 0.9}) + "\n")
    return path


def invoke(*args: str, env: dict[str, str | None] | None = None):
    env = {"COLUMNS": "200", "LANGSMITH_TRACING": "false", **(env or {})}
    return CliRunner().invoke(app, ["publish", *args], env=env)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_dry_run_writes_a_folder_that_load_dataset_reads_with_typed_features_one_config_per_task(run_path, tmp_path):
    out = tmp_path / "folder"
    result = invoke(str(run_path), "--repo-id", "org/papers-qa", "--dry-run", str(out), "--rows-per-shard", "2")
    assert result.exit_code == 0, result.output
    items = load_run(run_path).items
    assert len(items) == DOCS
    shards = sorted((out / "data" / "cs-research").glob("*.parquet"))
    assert [p.name for p in shards] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]

    from datasets import load_dataset

    loaded = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    train = loaded["train"]
    assert sorted(train["id"]) == sorted(item["id"] for item in items)
    assert repr(train.features["source_span"]) == "List(Value('int64'))"
    assert train.features["weak_avg"].dtype == "float64" and train.features["rounds"].dtype == "int64"
    assert {column.name for column in task_spec("cs-research").batch.dataset_columns} <= set(train.features)
    row = next(r for r in train if r["id"] == items[0]["id"])
    assert json.loads(row["rubric"]) == items[0]["rubric"] and row["weak_scores"] == items[0]["weak_scores"]
    # Sources are named as the manifest names them, never by a path of the machine that made the run.
    assert sorted(train["source_path"]) == [f"papers/doc{i}.md" for i in range(DOCS)]

    metadata = card_metadata((out / "README.md").read_text())
    assert metadata["license"] == "cc-by-4.0"  # every source's manifest row says CC BY 4.0
    assert metadata["configs"] == [{"config_name": "cs-research", "default": True,
                                    "data_files": [{"split": "train", "path": "data/cs-research/train-*.parquet"}]}]
    assert metadata["size_categories"] == ["n<1K"] and "question-answering" in metadata["task_categories"]
    assert metadata["language"] == ["en"]


def test_the_card_tells_how_the_data_was_made_from_the_run_directory(run_path):
    run = load_run(run_path)
    data = card_data(run, "org/papers-qa", {"id": "string"}, task_description=task_spec(run.task).description)
    card = render_card(data)
    body = card.split("\n---\n", 1)[1]
    assert f"task\n({task_spec(run.task).description.rstrip('.')})" in body
    for role in ("challenger", "weak", "strong", "judge"):
        assert f"| {role} | {role}-model |" in body
    assert "preset `deployed`" in body and "| min_gap | 0.2 |" in body
    assert f"{DOCS} rounds in all; 1.00 per accepted item" in body
    # Table 1 from the one fresh grade: weak 0.100, strong 0.900.
    assert "fresh-graded (1/3) | 3 | 0.100 | 0.900 | 0.800" in body
    stats = json.loads((run_path / "stats.json").read_text())
    per_item = stats["cost"]["per_accepted_item"]
    assert per_item and f"per accepted item ${per_item:.4f}" in body
    for i in range(DOCS):
        assert f"| papers/doc{i}.md | Paper {i} | example/papers | {LICENSE} |" in body
    assert "not named in a sources manifest" not in body
    assert "## Known limitations" in body and "in-loop" not in body.split("## Known limitations")[1]


def test_a_user_template_in_prompts_dir_replaces_the_card_body_and_an_unsafe_one_is_refused(run_path, tmp_path):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "dataset_card.md").write_text("notes\n<!-- user -->\n# {{ repo_id }}: {{ item_count }} items\n")
    result = invoke(str(run_path), "--repo-id", "org/x", "--dry-run", str(tmp_path / "a"), "--prompts", str(prompts))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "README.md").read_text().endswith("---\n\n# org/x: 3 items\n")
    (prompts / "dataset_card.md").write_text("notes\n<!-- user -->\n{{ repo_id.__class__ }}\n")
    result = invoke(str(run_path), "--repo-id", "org/x", "--dry-run", str(tmp_path / "b"), "--prompts", str(prompts))
    assert result.exit_code == 2 and "unsafe template" in result.output


def test_a_folder_with_other_files_and_a_run_without_items_are_refused(run_path, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = invoke(str(run_path), "--repo-id", "org/x", "--dry-run", str(folder))
    assert result.exit_code == 2 and "holds other files (notes.txt)" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "items.jsonl").write_text("")
    result = invoke(str(empty), "--repo-id", "org/x", "--dry-run", str(tmp_path / "out"))
    assert result.exit_code == 2 and "has no accepted items to publish" in result.output


def test_push_creates_the_repo_and_commits_the_card_and_shards_through_huggingface_hub(run_path, tmp_path):
    with HubStandIn() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token}
        result = invoke(str(run_path), "--repo-id", "org/papers-qa", env=env)
        assert result.exit_code == 0, result.output
        paths = [path for _, path in hub.record.requests]
        assert paths == ["/api/repos/create", "/api/validate-yaml", "/api/datasets/org/papers-qa/preupload/main",
                         "/api/datasets/org/papers-qa/commit/main"]  # fmt: skip
        assert hub.record.repos["org/papers-qa"]["type"] == "dataset"
        (commit,) = hub.record.commits
        assert sorted(commit.files) == ["README.md", "data/cs-research/train-00000-of-00001.parquet"]
        table = pq.read_table(io.BytesIO(commit.files["data/cs-research/train-00000-of-00001.parquet"]))
        assert sorted(table.column("id").to_pylist()) == sorted(item["id"] for item in load_run(run_path).items)
        assert hub.record.metadata[0]["configs"][0]["config_name"] == "cs-research"
        assert "pushed 3 item(s) to org/papers-qa" in result.output


def test_missing_token_refused_token_and_unreachable_hub_each_give_one_line_and_exit_2(run_path, tmp_path):
    with HubStandIn() as hub:
        no_token = invoke(str(run_path), "--repo-id", "org/x",
                          env={"HF_ENDPOINT": hub.url, "HF_TOKEN": None, "HF_HOME": str(tmp_path / "hf")})  # fmt: skip
        refused = invoke(str(run_path), "--repo-id", "org/x", env={"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_wrong"})
        assert hub.record.commits == []
    unreachable = invoke(str(run_path), "--repo-id", "org/x",
                         env={"HF_ENDPOINT": f"http://127.0.0.1:{unused_port()}", "HF_TOKEN": "hf_any"})  # fmt: skip
    for result, expected in ((no_token, "no Hugging Face token"), (refused, "refused the token (401"),
                             (unreachable, "cannot reach the Hub")):  # fmt: skip
        assert result.exit_code == 2, result.output
        (line,) = error_lines(result.output)
        assert line.startswith("error: ") and expected in line


def test_to_langsmith_creates_a_dataset_of_the_items_with_rubric_scores_and_provenance(run_path):
    items = load_run(run_path).items
    with LangSmithDatasetsStandIn() as langsmith:
        env = {"LANGSMITH_ENDPOINT": langsmith.url, "LANGSMITH_API_KEY": langsmith.api_key}
        result = invoke(str(run_path), "--to", "langsmith", "--dataset", "papers-qa", env=env)
        assert result.exit_code == 0, result.output
        examples = langsmith.record.examples_of("papers-qa")
        again = invoke(str(run_path), "--to", "langsmith", "--dataset", "papers-qa", env=env)
        refused = invoke(str(run_path), "--to", "langsmith", "--dataset", "other",
                         env={**env, "LANGSMITH_API_KEY": "lsv2_wrong"})  # fmt: skip
        missing = invoke(str(run_path), "--to", "langsmith", "--dataset", "other",
                         env={**env, "LANGSMITH_API_KEY": None, "LANGCHAIN_API_KEY": None})  # fmt: skip
    unreachable = invoke(str(run_path), "--to", "langsmith", "--dataset", "other",
                         env={**env, "LANGSMITH_ENDPOINT": f"http://127.0.0.1:{unused_port()}"})  # fmt: skip
    assert len(examples) == len(items)
    by_question = {example["inputs"]["question"]: example for example in examples}
    for item in items:
        example = by_question[item["question"]]
        assert example["inputs"] == {"question": item["question"], "context": item["context"]}
        assert example["outputs"] == {"reference_answer": item["reference_answer"]}
        assert example["metadata"]["rubric"] == item["rubric"]
        assert example["metadata"]["scores"]["weak_scores"] == item["weak_scores"]
        assert example["metadata"]["provenance"]["source_hash"] == item["source_hash"]
    for result, expected in ((again, "already has a dataset named 'papers-qa'"), (refused, "refused the API key"),
                             (missing, "no LangSmith API key"), (unreachable, "cannot reach LangSmith")):  # fmt: skip
        assert result.exit_code == 2, result.output
        (line,) = error_lines(result.output)
        assert line.startswith("error: ") and expected in line

"""The Generator writes a complete run directory; scripted models, no server."""

import json

import pytest
from datasets import load_from_disk

from autodata.engine.corpus import iter_documents
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator, item_id
from autodata.llm.settings import load_settings
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import scripted_provider


def corpus(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("# Paper A\n\nDropout zeroes activations at random during training.")
    (src / "b.md").write_text("# Paper B\n\nBatch normalisation rescales activations per mini-batch.")
    (src / "c.md").write_bytes(b"")
    return src


async def run(tmp_path, script, **options):
    provider = scripted_provider(script)
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", **options), provider, run_dir)
    stats = await generator.run(iter_documents(corpus(tmp_path), max_chars=2000))
    return stats, run_dir


async def test_run_directory_holds_items_trajectories_stats_and_dataset(tmp_path):
    def solver(role, question):
        if role == "strong":
            return "strong answer" if "Paper A" in question else "wrong answer"
        return "weak answer"

    def challenger_item(role, messages, tool):
        text = str(messages[-1].content)
        return rubric_item("Paper A: why?" if "Paper A" in text else "Paper B: why?")

    script = GraphScript(items=[None], solver=solver)
    script_fn = lambda role, messages, tool: (  # noqa: E731
        challenger_item(role, messages, tool) if role == "challenger" else script(role, messages, tool)
    )
    stats, run_dir = await run(tmp_path, script_fn, max_rounds=2, samples=2)

    assert (stats.documents, stats.accepted, stats.exhausted, stats.bad_input) == (2, 1, 1, 1)
    assert stats.rejections == {"failed_on_strong": 2}
    (item,) = run_dir.items()
    assert item["question"] == "Paper A: why?" and item["method"] == "agentic-self-instruct"
    assert item["source_doc_id"] == "a" and item["source_path"].endswith("a.md") and len(item["source_hash"]) == 64
    assert item["weak_avg"] == pytest.approx(2 / 7) and item["strong_avg"] == pytest.approx(6 / 7)
    assert item["gap"] == pytest.approx(4 / 7) and item["rounds"] == 1
    assert item["models"]["strong"] == "embedded" and item["prompts_hash"]
    trajectories = list(run_dir.trajectories())
    assert {t["doc_id"]: t["status"] for t in trajectories} == {"a": "accepted", "b": "exhausted"}
    assert len(next(t for t in trajectories if t["doc_id"] == "b")["rounds"]) == 2
    (error,) = run_dir.errors()
    assert error["doc_id"] == "c" and error["kind"] == "bad_input" and error["reason"] == "empty file"

    saved = json.loads(run_dir.file("stats.json").read_text())
    assert saved["accepted"] == 1 and saved["usage"]["judge"]["calls"] > 0
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["context"]["samples"] == 2 and "api_key" not in json.dumps(config).replace("api_key_set", "")

    dataset = load_from_disk(str(run_dir.file("dataset")))
    assert dataset.num_rows == 1 and dataset[0]["id"] == item["id"]
    assert json.loads(dataset[0]["rubric"])[0]["criterion"] == "mentions point 0"


async def test_item_ids_are_deterministic(tmp_path):
    doc = next(iter_documents(corpus(tmp_path), max_chars=2000))
    assert item_id("legal", doc, 0) == item_id("legal", doc, 0)
    assert item_id("legal", doc, 0) != item_id("legal", doc, 1) != item_id("cs-research", doc, 0)


async def test_empty_run_still_writes_a_loadable_dataset(tmp_path):
    script = GraphScript(items=[rubric_item("Q?")], judge_hits=lambda a, n: [False] * n)
    stats, run_dir = await run(tmp_path, script, max_rounds=1, samples=1)
    assert stats.accepted == 0
    assert load_from_disk(str(run_dir.file("dataset"))).num_rows == 0


def test_dataset_export_streams_items_once_each_and_leaves_no_build_cache(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    row = {"task": "legal", "question": "Q?", "rubric": [{"criterion": "c", "weight": 1.0}], "models": {"weak": "w"},
           "source_span": [0, 5], "weak_scores": [0.0], "strong_scores": [1.0], "rounds": 1}  # fmt: skip
    for item_id_ in ["a", "b", "a", "c"]:  # "a" again: a row repeated by an interrupted write is exported once
        run_dir.append_item({**row, "id": item_id_})
    run_dir.save_dataset()
    dataset = load_from_disk(str(run_dir.file("dataset")))
    assert dataset["id"] == ["a", "b", "c"] and json.loads(dataset[0]["models"]) == {"weak": "w"}
    run_dir.append_item({**row, "id": "d"})
    run_dir.save_dataset()  # a later export (a resumed run) replaces the dataset with the grown one
    assert load_from_disk(str(run_dir.file("dataset")))["id"] == ["a", "b", "c", "d"]
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["dataset", "items.jsonl"]


def test_settings_for_runner_are_public_only():
    settings = load_settings(env={"AUTODATA_MODEL": "m", "AUTODATA_BASE_URL": "http://x/v1", "AUTODATA_API_KEY": "sk-9"})
    assert "sk-9" not in json.dumps(settings.public_dict())

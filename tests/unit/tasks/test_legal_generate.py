"""`generate --task legal` runs the legal graph: rows, stats, skipped documents, resume without re-extracting."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest
from rich.console import Console

from autodata.engine.corpus import iter_documents
from autodata.engine.rundir import RunDirectory
from autodata.state.legal import LegalContext
from autodata.tasks import task_spec
from autodata.tasks.legal import LEGAL_BATCH
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.report.summary import print_summary
from tests.support.legal_script import SUITABLE, UNSUITABLE, LegalScript, judge, legal_item
from tests.support.scripted import last_user_text, scripted_provider


def corpus(tmp_path):
    src = tmp_path / "src"
    if src.exists():
        return src
    src.mkdir()
    (src / "a.md").write_text("# Opinion A\n\nA landlord may not keep a deposit for ordinary wear.")
    (src / "b.md").write_text("# Docket B\n\nMotion to extend time granted.")
    (src / "c.md").write_text("# Lease C\n\nThe tenant shall give sixty days' notice before leaving.")
    return src


def per_document_script(stall: threading.Event | None = None, release: threading.Event | None = None):
    """Answers depend only on the document and the round, never on call order: reproducible across resumes.
    Opinion A is accepted on round 2, Docket B is unsuitable, Lease C is never accepted."""
    base = LegalScript()

    def script(role, messages, tool):
        text = last_user_text(messages)
        if tool == "LegalExtract":
            base.calls.setdefault("extractor", []).append(text)
            return UNSUITABLE if "Docket B" in text else SUITABLE
        if tool == "LegalItem":
            base.calls.setdefault("writer", []).append(text)
            doc = "A" if "Opinion A" in text else "C"
            second = "round 2 of" in text
            return legal_item(f"Question {doc}{' second' if second else ''}: my landlord kept my deposit. Can he?")
        if tool == "LoopJudgeVerdict":
            accept = "Question A second" in text
            return judge("accept") if accept else judge("improve", suggestion="Pivot on the notice clause.")
        if stall is not None and role == "strong" and "Question A second" in text:
            stall.set()
            release.wait(30)
        return base(role, messages, tool)

    script.calls = base.calls
    return script


async def generate(tmp_path, script, **options):
    provider = scripted_provider(script)
    run_dir = RunDirectory(tmp_path / "run")
    opts = GenerateOptions(task="legal", max_rounds=3, samples=2, **options)
    generator = Generator(opts, provider, run_dir)
    stats = await generator.run(iter_documents(corpus(tmp_path), max_chars=2000))
    return stats, run_dir


def legal_context(options: GenerateOptions) -> LegalContext:
    return task_spec("legal").options(options).context(LegalContext)


def test_the_task_registry_names_the_legal_graph_and_its_defaults():
    assert task_spec("legal").batch is LEGAL_BATCH and task_spec("cs-research").graph == "self_instruct"
    assert LEGAL_BATCH.context_type is LegalContext
    ctx = legal_context(GenerateOptions(task="legal"))
    assert (ctx.weak_samples, ctx.strong_samples, ctx.max_improve_rounds) == (5, 3, 15)
    ctx = legal_context(GenerateOptions(task="legal", samples=2, max_rounds=4,
                                        policy_overrides={"min_rubric_criteria": 1, "strong_min_avg": 0.7,
                                                          "min_negative_criteria": 0}))
    assert (ctx.weak_samples, ctx.strong_samples, ctx.max_improve_rounds, ctx.shape.min_criteria) == (2, 2, 3, 1)
    assert ctx.shape.min_negative == 0
    ctx = legal_context(GenerateOptions(task="legal", policy_overrides={"min_rubric_criteria": 1},
                                        graph_settings={"min_criteria": 2, "weight_ranges": False}))
    assert (ctx.shape.min_criteria, ctx.shape.weight_ranges, ctx.shape.capability_tags) == (2, False, True)
    ctx = legal_context(GenerateOptions(task="legal", samples=2, weak_samples=4))
    assert (ctx.weak_samples, ctx.strong_samples) == (4, 2)  # the same sample fields as every task


async def test_legal_run_writes_capability_rows_counts_skipped_and_exhausted(tmp_path):
    stats, run_dir = await generate(tmp_path, per_document_script())
    assert (stats.documents, stats.accepted, stats.skipped, stats.exhausted) == (3, 1, 1, 1)
    (item,) = run_dir.items()
    assert item["source_doc_id"] == "a" and item["rounds"] == 2 and item["method"] == "agentic-self-instruct"
    assert item["question"].startswith("Question A second")
    assert {c["capability"] for c in item["rubric"]} == {"rule_identification", "exception_analysis",
                                                        "remedy_selection"}  # fmt: skip
    assert all("weight_class" in c for c in item["rubric"])
    assert item["target_capabilities"]["primary"] == ["rule_identification", "exception_analysis"]
    assert item["grpo_suitability"] == "high" and item["verdict"] == "accept" and item["verdict_reason"]
    assert item["weak_pattern"] and item["gap_interpretation"] == "fertile ground for RL"
    assert item["capability_table"][0]["weak_pct"] <= item["capability_table"][-1]["weak_pct"]
    assert item["weak_std"] is not None and len(item["weak_scores"]) == 2 and len(item["strong_scores"]) == 2
    rows = {t["doc_id"]: t for t in run_dir.trajectories()}
    assert rows["b"]["status"] == "skipped" and rows["b"]["skip_reason"] == "A bare docket order."
    assert rows["b"]["rounds"] == [] and rows["b"]["usage"]["challenger"]["calls"] == 1
    assert rows["c"]["status"] == "exhausted" and [r["outcome"] for r in rows["c"]["rounds"]] == ["improve"] * 3
    assert rows["a"]["extract"]["document_type"] == "appellate opinion"
    saved = json.loads(run_dir.file("stats.json").read_text())
    assert saved["skipped"] == 1 and saved["rejection_reasons"] == {"improve": 4}
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["context"]["weak_samples"] == 2 and config["context"]["max_improve_rounds"] == 2


async def test_resume_after_a_kill_mid_round_never_re_extracts(tmp_path):
    corpus(tmp_path)
    stall, release = threading.Event(), threading.Event()
    first_script = per_document_script(stall, release)
    interrupted = asyncio.create_task(generate(tmp_path, first_script))
    while not stall.is_set():
        await asyncio.sleep(0.01)
    interrupted.cancel()
    with pytest.raises(asyncio.CancelledError):
        await interrupted
    release.set()
    assert [t for t in RunDirectory(tmp_path / "run").trajectories() if t["doc_id"] == "a"] == []
    assert sum("Opinion A" in p for p in first_script.calls["extractor"]) == 1

    second_script = per_document_script()
    stats, run_dir = await generate(tmp_path, second_script)
    # Opinion A continued inside its round 2: neither the extractor nor the writer ran for it again.
    assert not any("Opinion A" in p for p in second_script.calls.get("extractor", []))
    assert not any("Opinion A" in p for p in second_script.calls.get("writer", []))
    (item,) = run_dir.items()
    assert item["source_doc_id"] == "a" and item["rounds"] == 2
    assert stats.accepted == 1 and stats.documents == 3


async def test_the_summary_counts_and_lists_skipped_documents_with_their_reason(tmp_path):
    stats, run_dir = await generate(tmp_path, per_document_script())
    out = io.StringIO()
    print_summary(Console(file=out, width=200), [(stats, run_dir)])
    text = out.getvalue()
    assert "skipped" in text and "b: A bare docket order." in text


async def test_the_dataset_export_carries_the_legal_fields(tmp_path):
    from datasets import load_from_disk

    _, run_dir = await generate(tmp_path, per_document_script())
    (row,) = load_from_disk(str(run_dir.file("dataset")))
    assert row["grpo_suitability"] == "high" and row["verdict"] == "accept" and row["weak_std"] is not None
    assert json.loads(row["target_capabilities"])["primary"] == ["rule_identification", "exception_analysis"]
    assert json.loads(row["capability_table"]) and all(c["capability"] for c in json.loads(row["rubric"]))

"""One writer per run directory, honest resumes and crash-safe exports; scripted models, no server."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk

from autodata.engine import rundir as rundir_module
from autodata.engine.corpus import iter_documents
from autodata.engine.rundir import (
    LOCK,
    RunDirectory,
    RunDirectoryBusy,
    RunDirectoryError,
    RunSettingsMismatch,
    check_outside_inputs,
    hold_lock,
)
from autodata.tasks.runner import GenerateOptions, Generator
from tests.support.graph_script import per_document_script
from tests.support.scripted import scripted_provider


def make_corpus(tmp_path: Path, n: int = 3) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for i in range(n):
        (src / f"doc{i}.md").write_text(f"# Paper {i}\n\nTopic number {i} is about a distinct subject {i * 7}.")
    return src


async def generate(tmp_path: Path, limit: int | None = None, **options) -> tuple[Generator, RunDirectory]:
    provider = scripted_provider(per_document_script())
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", **{"samples": 2, "max_rounds": 2, **options}),
                          provider, run_dir)  # fmt: skip
    await generator.run(iter_documents(make_corpus(tmp_path), max_chars=2000), limit=limit)
    return generator, run_dir


def dataset_ids(run_dir: RunDirectory) -> list[str]:
    return sorted(load_from_disk(str(run_dir.file("dataset")))["id"])


def item_ids(run_dir: RunDirectory) -> list[str]:
    return sorted({item["id"] for item in run_dir.items()})


def leftovers(run_dir: RunDirectory) -> list[str]:
    return sorted(p.name for p in run_dir.path.glob(".dataset-*"))


# -- the lock ------------------------------------------------------------------------------------------------


def hold_in_child(directory: Path) -> subprocess.Popen:
    """Another process that takes the run directory's lock and keeps it until killed."""
    code = (
        "import sys; from pathlib import Path; from autodata.engine.rundir import hold_lock\n"
        "with hold_lock(Path(sys.argv[1])):\n"
        "    print('locked', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_process_is_refused_with_the_holders_pid_and_a_killed_holders_lock_is_taken_over(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    holder = hold_in_child(run_dir.path)
    try:
        with pytest.raises(RunDirectoryBusy, match=rf"in use by another autodata process \(pid {holder.pid}\)"):
            with run_dir.lock():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert run_dir.file(LOCK).read_text().strip() == str(holder.pid)  # the stale file stays; its flock is gone
    with run_dir.lock():
        assert run_dir.file(LOCK).read_text().strip() == str(os.getpid())


def test_the_lock_nests_within_one_process(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    with run_dir.lock(), hold_lock(tmp_path / "run"):  # a command holds it and the Generator takes it again
        pass
    holder = hold_in_child(run_dir.path)  # released: another process can take it
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)


async def test_generator_run_is_refused_while_another_process_holds_the_directory(tmp_path):
    (tmp_path / "run").mkdir()
    holder = hold_in_child(tmp_path / "run")
    try:
        with pytest.raises(RunDirectoryBusy):
            await generate(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert not (tmp_path / "run" / "config.json").exists() and not (tmp_path / "run" / "items.jsonl").exists()


# -- paths ---------------------------------------------------------------------------------------------------


def test_out_equal_to_or_inside_an_input_folder_is_refused(tmp_path):
    src = make_corpus(tmp_path)
    for out in (src, src / "run", src / "deeper" / "run", tmp_path / "link"):
        if out.name == "link":
            out.symlink_to(src / "run", target_is_directory=True)
        with pytest.raises(RunDirectoryError, match="inside --sources"):
            check_outside_inputs(out, {"--sources": src})
    check_outside_inputs(tmp_path / "run", {"--sources": src})
    check_outside_inputs(src.parent / "src-run", {"--sources": src})  # a sibling whose name starts the same
    check_outside_inputs(tmp_path / "run", {"--sources": src / "doc0.md"})


def test_a_run_directory_that_is_a_file_is_a_run_directory_error(tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(RunDirectoryError, match="is a file, not a directory"):
        RunDirectory(tmp_path / "run")


# -- honest resumes ------------------------------------------------------------------------------------------


async def test_resume_with_other_samples_is_refused_and_changes_nothing(tmp_path):
    _, run_dir = await generate(tmp_path, limit=1)
    config_before = run_dir.file("config.json").read_text()
    items_before = run_dir.file("items.jsonl").read_text()
    with pytest.raises(RunSettingsMismatch, match=r"samples: 2 -> 3") as refused:
        await generate(tmp_path, samples=3, max_rounds=4)
    assert "max_rounds: 2 -> 4" in str(refused.value) and "--force-mixed" in str(refused.value)
    assert run_dir.file("config.json").read_text() == config_before
    assert run_dir.file("items.jsonl").read_text() == items_before


async def test_resume_with_another_policy_task_or_seed_is_refused(tmp_path):
    await generate(tmp_path, limit=1)
    with pytest.raises(RunSettingsMismatch, match=r"policy\.strong_min_avg: 0\.6 -> 0\.7"):
        await generate(tmp_path, policy_overrides={"strong_min_avg": 0.7})
    with pytest.raises(RunSettingsMismatch, match=r"task: 'cs-research' -> 'legal'"):
        provider = scripted_provider(per_document_script())
        generator = Generator(GenerateOptions(task="legal", samples=2, max_rounds=2), provider, RunDirectory(tmp_path / "run"))
        await generator.run([])
    with pytest.raises(RunSettingsMismatch, match=r"seed: 0 -> 5"):
        await generate(tmp_path, seed=5)


async def test_resume_compares_the_whole_context_except_its_label_fields(tmp_path):
    _, run_dir = await generate(tmp_path, limit=1)
    path = run_dir.file("config.json")
    config = json.loads(path.read_text())
    # As an older run wrote it: no `family` (the registry's, added since), another run label and prompts folder.
    del config["context"]["family"]
    config["context"].update(run_id="an-older-name", prompts_dir="/somewhere/else")
    path.write_text(json.dumps(config))
    generator, _ = await generate(tmp_path)
    assert generator.stats.resumed == 1 and generator.stats.documents == 3
    # A knob no list names is compared all the same: the whole context is.
    config = json.loads(path.read_text())
    config["context"]["a_knob_from_elsewhere"] = 7
    path.write_text(json.dumps(config))
    with pytest.raises(RunSettingsMismatch, match=r"a_knob_from_elsewhere: 7 -> None"):
        await generate(tmp_path)


async def test_settings_that_do_not_change_the_data_may_differ(tmp_path):
    await generate(tmp_path, limit=1, concurrency=1)
    generator, run_dir = await generate(tmp_path, concurrency=3)
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["concurrency"] == 3 and "history" not in config
    assert generator.stats.documents == 3 and generator.stats.resumed == 1


async def test_force_mixed_resumes_and_config_records_both_settings(tmp_path):
    await generate(tmp_path, limit=1)
    generator, run_dir = await generate(tmp_path, samples=3, allow_mixed=True)
    assert generator.stats.resumed == 1 and generator.stats.documents == 3
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["context"]["samples"] == 3
    assert [entry["context"]["samples"] for entry in config["history"]] == [2]
    assert "history" not in config["history"][0]
    # A plain resume under the newest settings keeps the history; the oldest settings are refused now.
    _, run_dir = await generate(tmp_path, samples=3)
    assert [entry["context"]["samples"] for entry in json.loads(run_dir.file("config.json").read_text())["history"]] == [2]
    with pytest.raises(RunSettingsMismatch, match=r"samples: 3 -> 2"):
        await generate(tmp_path, samples=2)


# -- storage errors stop the batch cleanly -------------------------------------------------------------------


async def test_disk_full_mid_batch_stops_every_document_and_a_rerun_repairs(tmp_path, monkeypatch):
    real_append = RunDirectory._append
    appended = []

    def append_until_full(self, name, row):
        if len(appended) >= 2:
            with self.file(name).open("a", encoding="utf-8") as fh:
                fh.write('{"id": "torn')  # what a full disk leaves: a torn line
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.file(name)))
        appended.append(name)
        real_append(self, name, row)

    monkeypatch.setattr(RunDirectory, "_append", append_until_full)
    with pytest.raises(OSError) as full:
        await generate(tmp_path, concurrency=3)
    assert full.value.errno == errno.ENOSPC
    monkeypatch.setattr(RunDirectory, "_append", real_append)

    generator, run_dir = await generate(tmp_path, concurrency=3)
    assert generator.stats.documents == 3 and generator.stats.accepted == 3
    ids = [item["id"] for item in run_dir.items()]
    assert len(ids) == 3 == len(set(ids))
    assert dataset_ids(run_dir) == sorted(ids)


# -- crash-safe export ---------------------------------------------------------------------------------------


async def test_an_export_cut_short_keeps_the_old_dataset_and_a_rerun_rebuilds_it(tmp_path, monkeypatch):
    _, run_dir = await generate(tmp_path, limit=1)
    old_ids = dataset_ids(run_dir)
    real_rows = rundir_module._dataset_rows

    def rows_then_crash(items, columns):
        rows = real_rows(items, columns)
        yield next(rows)
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(rundir_module, "_dataset_rows", rows_then_crash)
    with pytest.raises(Exception) as crash:  # `datasets` wraps it in its DatasetGenerationError
        await generate(tmp_path)
    assert "killed mid-export" in f"{crash.value} {crash.value.__cause__}"
    assert len(item_ids(run_dir)) == 3 and dataset_ids(run_dir) == old_ids  # the old dataset, whole
    # What a kill (no `finally` blocks run) would also leave: the builder's cache and the half-built dataset.
    (run_dir.path / ".dataset-build-x1").mkdir()
    (run_dir.path / ".dataset-new-x2").mkdir()
    (run_dir.path / ".dataset-new-x2" / "data-00000-of-00001.arrow").write_bytes(b"half")
    monkeypatch.setattr(rundir_module, "_dataset_rows", real_rows)

    await generate(tmp_path)
    assert leftovers(run_dir) == []
    assert dataset_ids(run_dir) == item_ids(run_dir) and len(item_ids(run_dir)) == 3


async def test_a_kill_between_the_two_renames_leaves_the_old_dataset_after_repair(tmp_path):
    _, run_dir = await generate(tmp_path, limit=1)
    old_ids = dataset_ids(run_dir)
    # Killed after moving the old dataset aside and before moving the new one in.
    os.rename(run_dir.file("dataset"), run_dir.path / ".dataset-old-k1")
    (run_dir.path / ".dataset-new-k2").mkdir()
    run_dir.repair()
    assert leftovers(run_dir) == [] and dataset_ids(run_dir) == old_ids

    _, run_dir = await generate(tmp_path)
    assert dataset_ids(run_dir) == item_ids(run_dir) and len(item_ids(run_dir)) == 3


def test_save_dataset_replaces_the_old_dataset_and_leaves_no_scratch_folders(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.save_dataset()
    assert len(load_from_disk(str(run_dir.file("dataset")))) == 0
    run_dir.append_item({"id": "a1", "question": "q?", "rubric": [], "models": {}})
    run_dir.append_item({"id": "a1", "question": "q?", "rubric": [], "models": {}})  # a repeated row counts once
    run_dir.save_dataset()
    assert dataset_ids(run_dir) == ["a1"] and leftovers(run_dir) == []


def test_a_persons_reviews_are_a_typed_column_of_the_dataset_and_empty_for_unreviewed_items(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    review = {"round": 2, "decision": "edit", "reviewer": "ana", "at": "2026-12-02T10:00:00+00:00",
              "edited_fields": ["rubric"], "reason": "", "needs_rescore": True}  # fmt: skip
    run_dir.append_item({"id": "a1", "question": "q?", "rubric": [], "models": {}, "reviews": [review]})
    run_dir.append_item({"id": "a2", "question": "r?", "rubric": [], "models": {}})
    run_dir.save_dataset()
    dataset = load_from_disk(str(run_dir.file("dataset")))
    assert dataset.features["reviews"].feature["needs_rescore"].dtype == "bool"
    assert dataset["reviews"] == [[review], []]


# -- optimize holds its run directory too ----------------------------------------------------------------------


def test_optimize_is_refused_on_a_busy_run_directory_and_inside_its_inputs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from autodata.cli import app
    from autodata.commands import optimize as optimize_command
    from tests.support.meta_script import MetaScript, meta_context, meta_provider

    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(MetaScript()))
    ctx = meta_context(tmp_path)
    command = ["optimize", "--task", "cs-research", "--train", ctx.train, "--val", ctx.val, "--iterations", "1",
               "--samples", "2", "--rounds", "1", "--minibatch", "2"]  # fmt: skip
    out = Path(ctx.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    holder = hold_in_child(out)
    try:
        busy = CliRunner().invoke(app, [*command, "--out", str(out)])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert busy.exit_code == 2 and f"pid {holder.pid}" in busy.output
    assert not (out / "checkpoints.sqlite").exists()
    inside = CliRunner().invoke(app, [*command, "--out", str(Path(ctx.val) / "run")])
    assert inside.exit_code == 2 and "inside --val" in inside.output
    assert not (Path(ctx.val) / "run").exists()

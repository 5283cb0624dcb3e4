"""One writer per run directory, honest resumes and clean disk errors, as users meet them: `autodata generate`
in subprocesses against the loopback fake OpenAI-compatible server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from datasets import load_from_disk

from autodata.engine.rundir import LOCK, RunDirectory
from tests.integration.test_cli_runs import cli_env, generate_cmd, make_corpus, run_cli
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration


class Hold:
    """Holds the strong solver's answers for one paper until released, so a run stays mid-document."""

    def __init__(self, paper: str) -> None:
        self.paper, self.entered, self.release = paper, threading.Event(), threading.Event()

    def script(self):
        answer = per_document_script()

        def script(role, messages, tool):
            if role == "strong" and self.paper in str(messages[-1].content):
                self.entered.set()
                self.release.wait(300)
            return answer(role, messages, tool)

        return script


@pytest.fixture
def server():
    with FakeOpenAIServer(per_document_script()) as fake:
        yield fake


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_clean_error_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert all(fragment in line for fragment in fragments), line
    assert "Traceback" not in result.stderr and "Task exception was never retrieved" not in result.stderr


def wrapped_cli(patch: str, *args: str) -> list[str]:
    """`autodata ARGS` in a Python whose run-directory I/O is patched first (a read-only or full disk)."""
    code = f"import errno, os, sys\nfrom autodata.engine.rundir import RunDirectory\n{patch}\nfrom autodata.cli import main\nmain()\n"
    return [sys.executable, "-c", code, *args]


def ids_are_unique_and_exported(out: Path, expected: int) -> None:
    ids = [item["id"] for item in RunDirectory(out).items()]
    assert len(ids) == expected == len(set(ids)), ids
    trajectories = [row["id"] for row in RunDirectory(out).trajectories()]
    assert len(trajectories) == expected == len(set(trajectories))
    assert sorted(load_from_disk(str(out / "dataset"))["id"]) == sorted(ids)
    assert not list(out.glob(".dataset-*"))


def test_a_second_process_on_the_same_out_is_refused_at_once_naming_the_holder(tmp_path):
    hold = Hold("Paper 01")
    with FakeOpenAIServer(hold.script()) as server:
        sources = make_corpus(tmp_path / "src", 4)
        out = tmp_path / "run"
        env = cli_env(server)
        first = subprocess.Popen(generate_cmd(sources, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)  # fmt: skip
        try:
            assert hold.entered.wait(180), "the first run never reached the held document"
            second = run_cli(generate_cmd(sources, out), env)
            assert first.poll() is None, "the first run is still holding the directory"
            assert_one_clean_error_line(second, "in use by another autodata process", f"pid {first.pid}")
        finally:
            hold.release.set()
            _, first_stderr = first.communicate(timeout=300)
        assert first.returncode == 0, first_stderr
        ids_are_unique_and_exported(out, 4)
        stats = json.loads((out / "stats.json").read_text())
        assert stats["documents"] == 4 and stats["resumed"] == 0


def test_a_killed_holders_stale_lock_is_taken_over(tmp_path):
    hold = Hold("Paper 02")
    with FakeOpenAIServer(hold.script()) as server:
        sources = make_corpus(tmp_path / "src", 4)
        out = tmp_path / "run"
        env = cli_env(server)
        killed = subprocess.Popen(generate_cmd(sources, out), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            assert hold.entered.wait(180), "the run never reached the held document"
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
        finally:
            hold.release.set()
        assert (out / LOCK).read_text().strip() == str(killed.pid)  # a stale lock file: its flock died with it

        rerun = run_cli(generate_cmd(sources, out), env)
        assert rerun.returncode == 0, rerun.stderr
        ids_are_unique_and_exported(out, 4)


def test_resume_with_other_samples_is_refused_unless_forced_and_config_keeps_both(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 3)
    out = tmp_path / "run"
    env = cli_env(server)
    first = run_cli(generate_cmd(sources, out, "--limit", "1"), env)
    assert first.returncode == 0, first.stderr
    config_before = (out / "config.json").read_text()

    refused = run_cli(generate_cmd(sources, out, "--samples", "3", "--rounds", "4"), env)
    assert_one_clean_error_line(refused, "other settings", "samples: 2 -> 3", "max_rounds: 2 -> 4", "--force-mixed")
    assert (out / "config.json").read_text() == config_before and len(RunDirectory(out).items()) == 1
    other_task = run_cli([*generate_cmd(sources, out), "--task", "legal"], env)
    assert_one_clean_error_line(other_task, "task: 'cs-research' -> 'legal'")

    # Concurrency and request limits do not change the data: a resume may change them freely.
    calm = run_cli(generate_cmd(sources, out, "--limit", "1", "--concurrency", "1", "--max-requests", "2"), env)
    assert calm.returncode == 0, calm.stderr

    mixed = run_cli(generate_cmd(sources, out, "--samples", "3", "--force-mixed"), env)
    assert mixed.returncode == 0, mixed.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["context"]["samples"] == 3
    assert [earlier["context"]["samples"] for earlier in config["history"]] == [2]
    ids_are_unique_and_exported(out, 3)


def test_out_inside_sources_is_refused_before_anything_is_written(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 2)
    for out in (sources / "run", sources):
        result = run_cli(generate_cmd(sources, out), cli_env(server))
        assert_one_clean_error_line(result, "inside --sources", "read its own output")
    assert sorted(p.name for p in sources.iterdir()) == ["doc00.md", "doc01.md"]


def test_out_that_is_a_file_or_below_a_file_is_one_error_line(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 1)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a run directory")
    assert_one_clean_error_line(run_cli(generate_cmd(sources, a_file), cli_env(server)), "is a file, not a directory")
    below = run_cli(generate_cmd(sources, a_file / "run"), cli_env(server))
    assert_one_clean_error_line(below, "Not a directory", str(a_file))
    assert a_file.read_text() == "not a run directory"


def test_a_read_only_run_directory_is_one_error_line(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 1)
    out = tmp_path / "run"
    out.mkdir()
    # Tests run as root, for whom chmod does not bite: refuse every write below `out` as a read-only mount would.
    patch = (
        f"real_open, root = os.open, {str(out)!r}\n"
        "def read_only_open(path, flags, *args, **kwargs):\n"
        "    if str(path).startswith(root) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):\n"
        "        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))\n"
        "    return real_open(path, flags, *args, **kwargs)\n"
        "os.open = read_only_open\n"
    )
    result = run_cli(wrapped_cli(patch, *generate_cmd(sources, out)[3:]), cli_env(server))
    assert_one_clean_error_line(result, "Read-only file system", str(out))
    assert list(out.iterdir()) == []


def test_a_full_disk_mid_run_is_one_error_line_and_a_rerun_completes(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 6)
    out = tmp_path / "run"
    # The disk fills after four rows: the next row is torn and the write fails, with documents in flight.
    patch = (
        "real_append, written = RunDirectory._append, []\n"
        "def append_until_full(self, name, row):\n"
        "    if len(written) >= 4:\n"
        "        with self.file(name).open('a') as fh:\n"
        "            fh.write('{\"id\": \"torn')\n"
        "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.file(name)))\n"
        "    written.append(name)\n"
        "    real_append(self, name, row)\n"
        "RunDirectory._append = append_until_full\n"
    )
    env = cli_env(server)
    full = run_cli(wrapped_cli(patch, *generate_cmd(sources, out)[3:]), env)
    assert_one_clean_error_line(full, "No space left on device", str(out), "run the same command again")

    rerun = run_cli(generate_cmd(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    ids_are_unique_and_exported(out, 6)
    assert json.loads((out / "stats.json").read_text())["documents"] == 6


def test_baseline_takes_the_same_lock_and_refuses_a_generate_run_directory(tmp_path, server):
    sources = make_corpus(tmp_path / "src", 1)
    out = tmp_path / "run"
    env = cli_env(server)
    assert run_cli(generate_cmd(sources, out), env).returncode == 0
    baseline = [sys.executable, "-m", "autodata.cli", "baseline", "--method", "self-instruct", "--task", "cs-research",
                "--sources", str(sources), "--out", str(out), "--samples", "2"]  # fmt: skip
    calls_before = len(server.requests)
    refused = run_cli(baseline, env)
    assert_one_clean_error_line(refused, "method: 'agentic-self-instruct' -> 'self-instruct'")
    inside = run_cli([*baseline[:-4], "--out", str(sources / "b")], env)
    assert_one_clean_error_line(inside, "inside --sources")
    assert len(server.requests) == calls_before, "a refused run makes no model call"

"""`autodata optimize` for real: killed with SIGKILL and resumed as a subprocess against the fake
OpenAI-compatible server (seconds), and 2 iterations on the embedded model (slow).

The embedded run uses 2 training and 2 validation papers from ../shared/corpora, one sample and one round
per document: up to a dozen inner-graph documents plus the analyzer and implementer calls. Measured: 29
minutes with the 2 cores shared by three llama.cpp servers and other test runs; far less on an idle machine. It checks that a real optimization runs end to end and that every outcome is recorded and
guarded; a 135M model is not expected to improve the prompts, so no score is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autodata.llm.embedded import stop_embedded_server
from autodata.llm.models import ModelProvider
from autodata.meta.optimize import with_meta_roles
from autodata.prompting.versions import ROOT_ID, VersionStore
from autodata.tasks import task_spec
from autodata.tasks.meta_optimizer import prompt_scope
from autodata.llm.settings import load_settings
from autodata.state.meta import MetaContext
from tests.conftest import SHARED_CORPORA
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.meta_script import MetaScript, run_meta, write_corpus

pytestmark = pytest.mark.integration
PAPERS = SHARED_CORPORA / "cs_papers"
TRAIN = ["distill_memorization-in-rnns.md", "distill_misread-tsne.md"]
VAL = ["distill_research-debt.md", "distill_deconv-checkerboard.md"]


def copy_papers(names: list[str], target):
    target.mkdir()
    for name in names:
        shutil.copy(PAPERS / name, target / name)
    return target


def optimize_cmd(tmp_path: Path, out: Path) -> list[str]:
    train = write_corpus(tmp_path / "train", ["alpha", "beta", "gamma"])
    val = write_corpus(tmp_path / "val", ["delta", "epsilon"])
    return [sys.executable, "-m", "autodata.cli", "optimize", "--task", "cs-research", "--train", str(train),
            "--val", str(val), "--out", str(out), "--iterations", "2", "--samples", "2", "--rounds", "1",
            "--minibatch", "2"]  # fmt: skip


def history(run_dir: Path) -> list[dict]:
    path = run_dir / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_kill_9_then_rerun_matches_an_uninterrupted_optimization(tmp_path):
    with FakeOpenAIServer(MetaScript(), latency=0.02) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
        env.update(server.settings_env(
            AUTODATA_ANALYZER_MODEL="analyzer", AUTODATA_IMPLEMENTER_MODEL="implementer",
            AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false",
        ))  # fmt: skip
        reference = subprocess.run(optimize_cmd(tmp_path, tmp_path / "reference"), env=env, capture_output=True, text=True, timeout=300)
        assert reference.returncode == 0, reference.stderr

        out = tmp_path / "killed"
        proc = subprocess.Popen(optimize_cmd(tmp_path, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(history(out)) < 2:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert len(history(out)) == 2, "the kill must land after iteration 1 and before the end"

        rerun = subprocess.run(optimize_cmd(tmp_path, out), env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
    fields = ("iteration", "version", "parent", "status", "val_pass_rate", "parent_val_pass_rate", "files_changed")
    assert [{k: row.get(k) for k in fields} for row in history(out)] == [
        {k: row.get(k) for k in fields} for row in history(tmp_path / "reference")
    ]
    assert sorted(p.name for p in (out / "versions").iterdir()) == sorted(
        p.name for p in (tmp_path / "reference" / "versions").iterdir()
    )


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/corpora is not present")
async def test_two_iterations_on_the_embedded_model(tmp_path):
    ctx = MetaContext(
        task="cs-research", train=str(copy_papers(TRAIN, tmp_path / "train")), val=str(copy_papers(VAL, tmp_path / "val")),
        run_dir=str(tmp_path / "run"), samples=1, max_rounds=1, minibatch=1, temperature=0.1, repeats=1,
    )  # fmt: skip
    # Short spans keep the 135M model's prompts small; everything else is the default embedded setup.
    settings = with_meta_roles(load_settings(env={}), env={}).model_copy(update={"max_source_chars": 1500})
    try:
        state = await run_meta(ctx, 2, ModelProvider(settings))
    finally:
        stop_embedded_server()

    run_dir = tmp_path / "run"
    rows = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [0, 1, 2]
    assert [run["documents"] for run in rows[0]["validation"]] == [2] * len(rows[0]["validation"])
    store = VersionStore(run_dir / "versions", prompt_scope(task_spec("cs-research")))
    for record in state.iterations:
        assert record.status in {"kept", "discarded", "screened_out", "invalid", "failed"}
        assert record.minibatch is not None and record.minibatch.documents == 1
        # The analyzer really ran on the model (a failed call is recorded as a failure, not hidden).
        assert record.usage["analyzer"].calls >= 1
        if record.status in {"kept", "discarded"}:
            validations = record.child_validations + record.parent_validations
            assert validations and all(run.documents == 2 for run in validations)
            assert (run_dir / "versions" / record.child / "diff.patch").read_text().startswith("--- a/")
    for version in state.versions:
        store.assert_frozen_intact(version.id)  # whatever the implementer wrote, frozen prompts held
    assert state.versions[0].id == ROOT_ID
    assert (run_dir / "pass_rate.png").stat().st_size > 0

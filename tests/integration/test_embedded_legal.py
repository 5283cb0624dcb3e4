"""The legal graph end to end on the real embedded model and a shared legal document, at the smallest budget.

One document, one round, one answer per solver: whatever SmolLM2-135M writes (an unsuitable verdict, a
rubric the shape rules reject, or a full evaluation and loop-judge verdict), the run must reach its end and
record it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autodata.engine.rundir import RunDirectory
from tests.conftest import ROOT, SHARED_CORPORA

OPINION = SHARED_CORPORA / "legal" / "opinion_ca_150361_hakim-v-holder.txt"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not OPINION.exists(), reason="../shared/corpora not present"),
]
ROLES = ("ORCHESTRATOR", "CHALLENGER", "QUALITY_VERIFIER", "WEAK", "STRONG", "JUDGE")
OUTCOMES = {"accepted", "improve", "post_filter", "rubric_shape", "rejected_by_rule", "model_error"}


def test_generate_legal_reaches_the_end_on_a_shared_opinion(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODATA_")}
    env.update({f"AUTODATA_{role}_SEED": "7" for role in ROLES}, AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false")
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", "legal", "--sources", str(OPINION),
           "--out", str(out), "--rounds", "1", "--samples", "1", "--config", str(ROOT / "configs/embedded-demo.toml")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    (trajectory,) = list(RunDirectory(out).trajectories())
    assert trajectory["status"] in ("accepted", "exhausted", "skipped")
    assert trajectory["extract"] is not None and trajectory["usage"]["challenger"]["completion_tokens"] > 0
    if trajectory["status"] == "skipped":
        assert trajectory["rounds"] == [] and trajectory["skip_reason"]
    else:
        (record,) = trajectory["rounds"]  # --rounds 1: no improve round
        assert record["outcome"] in OUTCOMES
        assert record["item"] is None or record["item"]["question"].strip() or record["shape_violations"]
        if record["judge"] is not None:
            assert record["judge"]["verdict"] in ("accept", "improve")
            assert record["judge"]["grpo_suitability"] in ("high", "medium", "low")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"] == 1 and stats["rounds"] == len(trajectory["rounds"])
    config = json.loads((out / "config.json").read_text())
    assert config["context"]["weak_samples"] == 1 and config["context"]["max_improve_rounds"] == 0

"""Hostile configurations, model answers and run-directory damage through `autodata generate`, as users meet
them: a subprocess (or the in-process CLI for configurations) against the loopback fake OpenAI server.

Each test is one reproduction: strict configuration (every key and AUTODATA_* variable checked), model answers
without bounds, resumes that would mix models or reading budgets, a damaged run directory, Ctrl-C / SIGTERM,
a cost budget before any estimate exists, and an honest end-of-run summary. The configurations live in
tests/fixtures/hostile/configs/, each with the line its error must contain (`# expect: ...`).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.rundir import RunDirectory
from tests.integration.test_cli_runs import cli_env, generate_cmd, make_corpus, run_cli
from tests.integration.test_run_directory_cli import Hold
from tests.support.fake_openai import FakeOpenAIServer, FaultPlan
from tests.support.graph_script import per_document_script

pytestmark = pytest.mark.integration
CONFIGS = Path(__file__).parents[1] / "fixtures" / "hostile" / "configs"
runner = CliRunner()


def one_line(text: str) -> str:
    return " ".join(text.split())


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def assert_clean_exit_2(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = error_lines(result.stderr)
    assert all(fragment in line for fragment in fragments), line


def item_ids(out: Path) -> list[str]:
    return [item["id"] for item in RunDirectory(out).items()]


@pytest.fixture
def server():
    with FakeOpenAIServer(per_document_script()) as fake:
        yield fake


# -- configuration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.toml")), ids=lambda path: path.stem)
def test_a_configuration_mistake_exits_2_naming_the_key_and_what_is_allowed(tmp_path, config):
    expected = config.read_text().splitlines()[0].removeprefix("# expect: ")
    args = ["generate", "--task", "cs-research", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "run"),
            "--config", str(config)]  # fmt: skip
    result = runner.invoke(app, args, env={"AUTODATA_NO_PROGRESS": "1"})
    assert result.exit_code == 2, result.output
    (line,) = error_lines(one_line(result.output).replace(" error:", "\nerror:"))
    assert expected in line and "Traceback" not in result.output, (expected, line)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AUTODATA_TEMPRATURE", "0.2", "unknown environment variable AUTODATA_TEMPRATURE (did you mean 'AUTODATA_TEMPERATURE'?)"),
        ("AUTODATA_WEAK_MODLE", "m", "(did you mean 'AUTODATA_WEAK_MODEL'?)"),
        ("AUTODATA_MAX_RETRIES", "-1", "AUTODATA_MAX_RETRIES = '-1': Input should be greater than or equal to 0"),
        ("AUTODATA_JUDGE_MAX_TOKENS", "lots", "AUTODATA_JUDGE_MAX_TOKENS = 'lots': Input should be a valid integer"),
    ],
)
def test_an_environment_mistake_exits_2_naming_the_variable(tmp_path, variable, value, expected):
    args = ["generate", "--task", "cs-research", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "run")]
    result = runner.invoke(app, args, env={"AUTODATA_NO_PROGRESS": "1", variable: value})
    assert result.exit_code == 2 and expected in one_line(result.output), result.output


def test_rate_limit_keys_are_valid_configuration(tmp_path):
    from autodata.llm.settings import load_settings

    config = tmp_path / "autodata.toml"
    config.write_text("[roles.strong]\nrequests_per_minute = 60\ntokens_per_minute = 90000\n")
    settings = load_settings(config, env={"AUTODATA_WEAK_REQUESTS_PER_MINUTE": "30"})
    assert settings.role("strong").requests_per_minute == 60 and settings.role("weak").requests_per_minute == 30


# -- model output ---------------------------------------------------------------------------------------------


def oversized_answers():
    """The weak solver answers 1 MB (past the body bound), the strong one 20,000 characters (past the reply bound
    of its 100-token budget); everything else as the per-document script."""
    answer = per_document_script()

    def script(role, messages, tool):
        if role == "weak":
            return "w" * 1_000_000
        if role == "strong":
            return "s" * 20_000
        return answer(role, messages, tool)

    return script


def test_over_long_answers_are_model_errors_and_the_checkpoints_stay_small(tmp_path):
    sources, out = make_corpus(tmp_path / "src", 2), tmp_path / "run"
    with FakeOpenAIServer(oversized_answers()) as server:
        env = cli_env(server) | {"AUTODATA_STRONG_MAX_TOKENS": "100"}
        first = run_cli(generate_cmd(sources, out), env)
        assert first.returncode == 0, first.stderr
        rerun = run_cli(generate_cmd(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    rows = list(RunDirectory(out).trajectories())
    assert len(rows) == 2 and {row["status"] for row in rows} == {"exhausted"}
    assert {record["outcome"] for row in rows for record in row["rounds"]} == {"model_error"}
    assert RunDirectory(out).errors() == []  # never a `failed` document that fails again on every re-run
    stored = (out / "trajectories.jsonl").read_text()
    assert "longer than" in stored and "www" not in stored and "sss" not in stored
    assert (out / "checkpoints.sqlite").stat().st_size < 2_000_000


# -- resume ---------------------------------------------------------------------------------------------------


def test_resume_with_another_model_or_reading_budget_is_refused_unless_forced(tmp_path, server):
    sources, out = make_corpus(tmp_path / "src", 2), tmp_path / "run"
    env = cli_env(server)
    assert run_cli(generate_cmd(sources, out, "--limit", "1"), env).returncode == 0
    before = (out / "config.json").read_text()

    other_model = run_cli(generate_cmd(sources, out), env | {"AUTODATA_WEAK_MODEL": "a-smaller-model"})
    assert_clean_exit_2(other_model, "models.weak: 'weak' -> 'a-smaller-model'", "--force-mixed")
    config = tmp_path / "autodata.toml"
    config.write_text("[generation]\nmax_source_chars = 5000\n")
    other_span = run_cli(generate_cmd(sources, out, "--config", str(config)), env)
    assert_clean_exit_2(other_span, "max_source_chars: 120000 -> 5000")
    assert (out / "config.json").read_text() == before and len(item_ids(out)) == 1

    forced = run_cli(generate_cmd(sources, out, "--force-mixed"), env | {"AUTODATA_WEAK_MODEL": "a-smaller-model"})
    assert forced.returncode == 0, forced.stderr
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["settings"]["roles"]["weak"]["model"] == "a-smaller-model"
    assert [earlier["settings"]["roles"]["weak"]["model"] for earlier in recorded["history"]] == ["weak"]
    assert len(item_ids(out)) == 2


# -- run-directory damage -------------------------------------------------------------------------------------


def finished_run(tmp_path: Path, server: FakeOpenAIServer, documents: int = 4) -> tuple[Path, Path, dict]:
    sources, out = make_corpus(tmp_path / "src", documents), tmp_path / "run"
    env = cli_env(server)
    first = run_cli(generate_cmd(sources, out), env)
    assert first.returncode == 0, first.stderr
    assert len(item_ids(out)) == documents
    return sources, out, env


def test_a_deleted_items_file_and_documents_folder_are_rebuilt_without_a_model_call(tmp_path, server):
    sources, out, env = finished_run(tmp_path, server)
    expected = sorted(item_ids(out))
    (out / "items.jsonl").unlink()
    shutil.rmtree(out / "documents")
    calls = len(server.requests)

    rerun = run_cli(generate_cmd(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(item_ids(out)) == expected and len(server.requests) == calls
    assert "repaired: items.jsonl" in rerun.stderr
    assert len(list((out / "documents").glob("*.txt"))) == 4  # put back from the sources


def test_garbage_repeated_and_removed_rows_are_found_and_healed(tmp_path, server):
    sources, out, env = finished_run(tmp_path, server)
    expected = sorted(item_ids(out))
    lines = (out / "items.jsonl").read_text().splitlines(keepends=True)
    damaged = [lines[0], "this is not a row\n", lines[1], lines[1], lines[3]]  # row 2 removed by hand
    (out / "items.jsonl").write_text("".join(damaged))

    rerun = run_cli(generate_cmd(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(item_ids(out)) == expected
    message = one_line(rerun.stderr)
    assert "1 line(s) that are not rows (line 2)" in message and "1 repeated row(s)" in message
    assert "this is not a row" in (out / "items.jsonl.removed").read_text()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accepted"] == 4


def test_an_edited_document_text_is_found_by_its_hash_and_restored(tmp_path, server):
    sources, out, env = finished_run(tmp_path, server)
    stored = sorted((out / "documents").glob("*.txt"))[0]
    original = stored.read_text()
    stored.write_text(original + " An edited sentence.")
    (out / "items.jsonl").unlink()  # the items are rebuilt from checkpoints that refer to the texts

    rerun = run_cli(generate_cmd(sources, out), env)
    assert rerun.returncode == 0, rerun.stderr
    assert stored.read_text() == original and len(item_ids(out)) == 4
    assert "An edited sentence" not in (out / "items.jsonl").read_text()


def test_lost_items_that_cannot_be_rebuilt_are_refused_never_exit_0(tmp_path, server):
    sources, out, env = finished_run(tmp_path, server)
    (out / "items.jsonl").unlink()
    (out / "checkpoints.sqlite").unlink()

    rerun = run_cli(generate_cmd(sources, out), env)
    assert_clean_exit_2(rerun, "4 accepted item(s) are missing from items.jsonl", "could not be rebuilt")


# -- interruption ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_how_to_resume_and_writes_what_finished(tmp_path, signum, code):
    hold = Hold("Paper 03")
    sources, out = make_corpus(tmp_path / "src", 5), tmp_path / "run"
    with FakeOpenAIServer(hold.script()) as server:
        env = cli_env(server)
        proc = subprocess.Popen(generate_cmd(sources, out, "--concurrency", "1"), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert hold.entered.wait(180), "the run never reached the held document"
            proc.send_signal(signum)
            _, stderr = proc.communicate(timeout=120)
        finally:
            hold.release.set()
        assert proc.returncode == code, stderr
        assert "interrupted; run the same command to resume" in stderr and "Traceback" not in stderr
        stats = json.loads((out / "stats.json").read_text())
        assert stats["documents"] == 3 and stats["accepted"] == 3
        from datasets import load_from_disk

        assert sorted(load_from_disk(str(out / "dataset"))["id"]) == sorted(item_ids(out))

        resumed = run_cli(generate_cmd(sources, out), env)
    assert resumed.returncode == 0, resumed.stderr
    assert len(set(item_ids(out))) == 5


# -- budget ---------------------------------------------------------------------------------------------------


def test_a_cost_budget_runs_the_first_document_alone_so_concurrency_cannot_overshoot(tmp_path, server):
    sources, out = make_corpus(tmp_path / "src", 6), tmp_path / "run"
    prices = {"AUTODATA_PRICE_INPUT": "1000000", "AUTODATA_PRICE_OUTPUT": "1000000"}  # USD 1 per token
    stopped = run_cli(generate_cmd(sources, out, "--concurrency", "4", "--max-cost", "5"), cli_env(server) | prices)
    assert stopped.returncode == 4, stopped.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"] == 1, "only the first document ran: it alone costs more than the budget"
    papers = {next(part for part in str(r.messages).split("Paper ")[1:])[:2] for r in server.requests}
    assert len(papers) == 1


# -- summary --------------------------------------------------------------------------------------------------


def test_the_summary_tells_failed_from_bad_input_and_an_unpriced_cost_is_unknown(tmp_path):
    sources = make_corpus(tmp_path / "src", 4)
    (sources / "empty.md").write_bytes(b"")
    with FakeOpenAIServer(per_document_script(), faults=FaultPlan(outage=(10, 400))) as server:
        env = cli_env(server) | {"AUTODATA_MAX_RETRIES": "0"}
        result = run_cli(generate_cmd(sources, tmp_path / "run", "--concurrency", "1"), env)
    assert result.returncode == 3, result.stderr
    message = one_line(result.stderr)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["failed"] >= 1 and stats["bad_input"] == 1
    assert f"{stats['failed']} document(s) failed (run the same command to retry them)" in message
    assert "1 document(s) were bad input" in message and "skipped" not in message
    assert "cost: unknown" in message and "$0.0000" not in message

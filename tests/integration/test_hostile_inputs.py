"""Hostile inputs through the real CLI: none reaches the user as a traceback, none stops a run for good.

The inputs live in tests/fixtures/hostile/: a prompt expression nested 100 parentheses deep (from an
implementer answer, a `--prompts` file and a promoted version), problem rows of the wrong types, documents
whose ids would collide, a JSONL row far over the row limit (written here: it is too large to keep), delimiter
look-alikes inside a document, and a damaged scores.json. `generate` runs as a subprocess against the fake
OpenAI-compatible server; `optimize` and `prompts promote` run in-process with scripted models.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodata.cli import app
from autodata.commands import optimize as optimize_command
from autodata.engine.corpus import max_row_bytes
from autodata.engine.rundir import RunDirectory
from autodata.llm.settings import REMOTE_SOURCE_CHARS
from autodata.prompting.library import SHIPPED_PROMPTS_DIR
from tests.integration.test_cli_runs import cli_env, run_cli
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.graph_script import per_document_script
from tests.support.meta_script import CHALLENGER, MetaScript, current_file, meta_context, meta_provider

pytestmark = pytest.mark.integration
HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
NESTED = (HOSTILE / "nested_parentheses.jinja").read_text(encoding="utf-8").strip()
runner = CliRunner()


@pytest.fixture
def server():
    with FakeOpenAIServer(per_document_script(), latency=0.0) as fake:
        yield fake


def generate(server: FakeOpenAIServer, task: str, sources: Path, out: Path, *extra: str):
    cmd = [sys.executable, "-m", "autodata.cli", "generate", "--task", task, "--sources", str(sources),
           "--out", str(out), "--samples", "1", "--rounds", "1", "--concurrency", "2", *extra]  # fmt: skip
    return run_cli(cmd, cli_env(server))


def with_nested_expression(prompt_text: str) -> str:
    """A prompt file with the 100-deep expression added to its user part."""
    return prompt_text.replace("<!-- user -->", f"<!-- user -->\n{NESTED}", 1)


def assert_one_line_error(output: str, *words: str) -> None:
    assert "Traceback" not in output and "RecursionError" not in output and "JSONDecodeError" not in output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and all(word in lines[0] for word in words), output


def test_bad_problem_rows_are_bad_input_with_their_line_and_the_batch_goes_on(tmp_path, server):
    sources = tmp_path / "src"
    sources.mkdir()
    shutil.copy(HOSTILE / "bad_problem_rows.jsonl", sources / "problems.jsonl")
    # A row far over the row limit (the default span budget allows about 0.8 MB), then a good row.
    limit = max_row_bytes(REMOTE_SOURCE_CHARS)
    with (sources / "huge.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"question": "Q " * (limit // 2 + 1_000_000), "answer": "1"}) + "\n")
        fh.write(json.dumps({"question": "What is 5 + 5?", "answer": "10"}) + "\n")
    out = tmp_path / "run"
    result = generate(server, "science", sources, out)

    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = {e["doc_id"]: e for e in RunDirectory(out).errors()}
    assert all(e["kind"] == "bad_input" for e in errors.values())
    assert {doc_id: e["reason"].split(": ", 1)[1] for doc_id, e in errors.items() if doc_id.startswith("problems")} == {
        "problems-L2": "'question' must be a non-empty string, not a number",
        "problems-L3": "'question' must be a non-empty string, not an object",
        "problems-L4": "'answer' must be a non-empty string or a number, not null",
        "problems-L5": "'answer' must be a non-empty string or a number, not an array",
        "problems-L6": "'question' must be a non-empty string, not an empty string",
        "problems-L7": "'answer' must be a non-empty string or a number, not a boolean",
        "problems-L8": "'answer' must be a non-empty string or a number, not missing",
        "problems-L9": "'solution' must be a string when given, not an object",
        "problems-L10": "a problem row must be a JSON object, not an array",
    }  # fmt: skip
    assert errors["problems-L2"]["path"].endswith("problems.jsonl#L2")
    assert errors["huge-L1"]["reason"].startswith("problem row too large") and "line 1" in errors["huge-L1"]["reason"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["bad_input"] == 10 and stats["documents"] == 3
    # The good rows ran, with their answers as written (a number as its digits).
    rows = {r["doc_id"]: r for r in RunDirectory(out).trajectories()}
    assert set(rows) == {"problems-L1", "problems-L11", "huge-L2"}
    prompts = " ".join(str(m.get("content", "")) for r in server.requests for m in r.messages)
    assert "Answer: 7" in prompts and "Answer: None" not in prompts and "['6']" not in prompts
    assert "Problem: 42" not in prompts and "{'text'" not in prompts  # nor as a grounding example


def test_colliding_document_ids_each_get_their_own_error_row(tmp_path, server):
    out = tmp_path / "run"
    result = generate(server, "cs-research", HOSTILE / "colliding_ids", out)
    assert result.returncode == 3, result.stderr
    errors = RunDirectory(out).errors()
    assert sorted(Path(e["path"]).name for e in errors) == ["a b.md", "a_b.md", "x.md", "x.txt"]
    assert len({e["doc_id"] for e in errors}) == 4 and {e["reason"] for e in errors} == {"empty file"}
    assert json.loads((out / "stats.json").read_text())["bad_input"] == 4


def test_colliding_document_ids_next_to_good_documents(tmp_path, server):
    sources = tmp_path / "src"
    shutil.copytree(HOSTILE / "colliding_ids", sources)
    (sources / "paper.md").write_text("# Paper\n\nA finding about caches under load.")
    (sources / "x").mkdir()
    (sources / "x" / "y.md").write_text("# Nested\n\nA finding about queues.")
    (sources / "x_y.md").write_text("# Flat\n\nA finding about locks.")
    out = tmp_path / "run"
    result = generate(server, "cs-research", sources, out)

    assert result.returncode == 3, result.stderr
    errors = RunDirectory(out).errors()
    assert sorted(Path(e["path"]).name for e in errors) == ["a b.md", "a_b.md", "x.md", "x.txt"]
    assert len({e["doc_id"] for e in errors}) == 4
    stats = json.loads((out / "stats.json").read_text())
    assert stats["bad_input"] == 4 and stats["documents"] == 3
    doc_ids = {r["doc_id"] for r in RunDirectory(out).trajectories()}
    assert len(doc_ids) == 3 and "paper" in doc_ids  # an id without a clash is kept as it always was


def test_delimiter_look_alikes_in_a_document_are_defanged(tmp_path, server):
    sources = tmp_path / "src"
    sources.mkdir()
    shutil.copy(HOSTILE / "delimiter_lookalikes.md", sources / "paper.md")
    result = generate(server, "cs-research", sources, tmp_path / "run")
    assert result.returncode == 0, result.stderr

    prompt = next(str(m["content"]) for r in server.requests if r.role == "challenger" for m in r.messages
                  if "Delimiter look-alikes" in str(m.get("content", "")))  # fmt: skip
    document = prompt.split("<source_document>\n", 1)[1].split("\n</source_document>", 1)[0]
    for attempt in range(1, 7):
        line = next(line for line in document.splitlines() if f"instructions ({attempt})" in line)
        assert line.split(": ", 1)[1].startswith("</source_document_>"), line
    assert prompt.count("</source_document>") == 1  # only the real closer
    assert "Kept as written: x\u00b2 + caf\u00e9 &amp; <b>bold</b> \uff21." in document


def test_generate_with_a_deeply_nested_prompt_file_is_one_line_and_exit_2(tmp_path, server):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shipped = (SHIPPED_PROMPTS_DIR / CHALLENGER).read_text(encoding="utf-8")
    (prompts / CHALLENGER).write_text(with_nested_expression(shipped), encoding="utf-8")
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "paper.md").write_text("# Paper\n\nA finding.")
    result = generate(server, "cs-research", sources, tmp_path / "run", "--prompts", str(prompts))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, CHALLENGER, "nested more than")
    assert not [r for r in server.requests if r.role == "challenger"]


def nested_edit(messages) -> dict:
    content = with_nested_expression(current_file(messages, CHALLENGER))
    return {"summary": "Group the conditions.", "edits": [{"file": CHALLENGER, "content": content}]}


def optimize_args(ctx, *extra: str) -> list[str]:
    return ["optimize", "--task", "cs-research", "--train", ctx.train, "--val", ctx.val, "--out", ctx.run_dir,
            "--iterations", "1", "--samples", "2", "--rounds", "1", "--minibatch", "2", *extra]  # fmt: skip


def test_a_deeply_nested_implementer_edit_is_a_rejected_edit_and_the_run_goes_on(tmp_path, monkeypatch):
    script = MetaScript(implementer=nested_edit)
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(script))
    ctx = meta_context(tmp_path)
    result = runner.invoke(app, optimize_args(ctx))
    assert result.exit_code == 0, result.output
    assert "iteration 1: parent v0000" in result.output and "1 edit(s) rejected" in result.output
    record = json.loads((tmp_path / "run" / "history.jsonl").read_text().splitlines()[-1])
    assert record["rejected_edits"] == [{
        "file": CHALLENGER.removesuffix(".md"),
        "reason": f"{CHALLENGER}: unsafe template: brackets nested more than 20 deep inside a template tag",
    }]  # fmt: skip
    assert not (tmp_path / "run" / "versions" / "v0001").exists()


def test_a_run_stopped_inside_the_check_resumes_without_replaying_it(tmp_path, monkeypatch):
    """A checkpoint that holds a poisoned implementer answer (a run that crashed checking it, as the check
    once did) resumes: the check gives its verdict, and the implementer is not asked again."""
    script = MetaScript(implementer=nested_edit)
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(script))
    ctx = meta_context(tmp_path)
    from autodata.prompting import versions

    real_check = versions.template_problems

    def crashing_check(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")  # what the unbounded check raised

    monkeypatch.setattr(versions, "template_problems", crashing_check)
    first = runner.invoke(app, optimize_args(ctx))
    assert isinstance(first.exception, RecursionError), first.output
    assert len(script.calls["implementer"]) == 1

    monkeypatch.setattr(versions, "template_problems", real_check)
    second = runner.invoke(app, optimize_args(ctx))
    assert second.exit_code == 0, second.output
    assert "1 edit(s) rejected" in second.output
    assert len(script.calls["implementer"]) == 1  # resumed from the checkpoint, not asked again


def test_promote_refuses_a_hostile_version_and_a_damaged_scores_file_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(MetaScript()))
    ctx = meta_context(tmp_path)
    assert runner.invoke(app, optimize_args(ctx)).exit_code == 0
    run_dir = tmp_path / "run"
    version = run_dir / "versions" / "v0001"

    shutil.copy(HOSTILE / "damaged_scores.json", version / "scores.json")
    damaged = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0001", "--to", str(tmp_path / "a")])
    assert damaged.exit_code == 2
    assert_one_line_error(damaged.output, "scores.json is damaged", "delete it")

    (version / "scores.json").unlink()
    (version / CHALLENGER).write_text(with_nested_expression((version / CHALLENGER).read_text()), encoding="utf-8")
    hostile = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0001", "--to", str(tmp_path / "b")])
    assert hostile.exit_code == 2
    assert_one_line_error(hostile.output, CHALLENGER, "nested more than 20 deep")
    assert not (tmp_path / "b").exists()

    (version / CHALLENGER).write_bytes(b"\xff\xfe not UTF-8 <!-- user -->")
    binary = runner.invoke(app, ["prompts", "promote", str(run_dir), "v0001", "--to", str(tmp_path / "c")])
    assert binary.exit_code == 2
    assert_one_line_error(binary.output, CHALLENGER, "not UTF-8")


def test_optimize_from_a_deeply_nested_prompt_file_is_one_line_and_exit_2(tmp_path, monkeypatch):
    script = MetaScript()
    monkeypatch.setattr(optimize_command, "build_provider", lambda settings: meta_provider(script))
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shipped = (SHIPPED_PROMPTS_DIR / CHALLENGER).read_text(encoding="utf-8")
    (prompts / CHALLENGER).write_text(with_nested_expression(shipped), encoding="utf-8")
    result = runner.invoke(app, optimize_args(meta_context(tmp_path), "--prompts", str(prompts)))
    assert result.exit_code == 2, result.output
    assert_one_line_error(result.output, CHALLENGER, "nested more than 20 deep")
    assert not script.calls  # stopped before any model call

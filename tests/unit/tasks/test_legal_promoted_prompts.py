"""A promoted legal prompt version changes what `generate --task legal` renders: the version's writer prompt,
copied out with `autodata prompts promote`, is what the legal writer sends the endpoint (the fake OpenAI server)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from autodata.cli import app
from autodata.prompting.library import USER_MARKER, PromptLibrary
from autodata.prompting.versions import VERSIONS_DIR
from autodata.tasks import task_spec
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.legal_script import LegalScript

MARKER = "Set every scenario in a small town (PROMOTED-VERSION)."


def write_version(run_dir, version: str) -> None:
    """A version as `autodata optimize --task legal` writes one: every legal prompt, the writer's edited."""
    folder = run_dir / VERSIONS_DIR / version
    folder.mkdir(parents=True)
    legal = task_spec("legal").meta
    for name in (*legal.editable_prompts, *legal.frozen_prompts):
        text = PromptLibrary().text(name)
        if name == "writer_legal":
            text = text.replace(USER_MARKER, f"{USER_MARKER}\n{MARKER}", 1)
        (folder / f"{name}.md").write_text(text, encoding="utf-8")


def test_generate_legal_with_a_promoted_version_sends_the_versions_writer_prompt(tmp_path):
    optimize_run, promoted = tmp_path / "optimize", tmp_path / "promoted"
    write_version(optimize_run, "v0001")
    promote = CliRunner().invoke(app, ["prompts", "promote", str(optimize_run), "v0001", "--to", str(promoted)])
    assert promote.exit_code == 0, promote.output
    sources = tmp_path / "opinions"
    sources.mkdir()
    (sources / "a.md").write_text("# Deposit opinion\n\nOrdinary wear is not damage; the rent pays for it.")

    runs = {}
    for label, extra in (("shipped", []), ("promoted", ["--prompts", str(promoted)])):
        script = LegalScript()
        with FakeOpenAIServer(script) as server:
            env = server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false")
            result = CliRunner().invoke(app, ["generate", "--task", "legal", "--sources", str(sources), "--out",
                                              str(tmp_path / label), "--rounds", "1", *extra], env=env)  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[label] = (script.calls["writer"], json.loads((tmp_path / label / "config.json").read_text()))

    shipped_writes, shipped_config = runs["shipped"]
    promoted_writes, promoted_config = runs["promoted"]
    assert shipped_writes and not any(MARKER in request for request in shipped_writes)
    assert promoted_writes and all(MARKER in request for request in promoted_writes)
    assert promoted_config["prompts_hash"] != shipped_config["prompts_hash"]
    assert promoted_config["context"]["prompts_dir"] == str(promoted)

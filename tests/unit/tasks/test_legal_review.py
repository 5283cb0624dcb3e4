"""`autodata generate --task legal --review` and `autodata review`, as users run them, against the
request-logging fake OpenAI server: every document whose item would be kept waits for a person; the decisions
are recorded; the same `generate` command carries the documents on, and each kept item has its `reviews`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.reviews import ReviewLog
from autodata.engine.rundir import RunDirectory
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.legal_script import LegalScript, legal_item
from tests.support.scripted import last_user_text

DOCUMENTS = {
    "a": "# Opinion A\n\nA landlord may not keep a deposit for ordinary wear.",
    "b": "# Lease B\n\nThe tenant shall give sixty days' notice before leaving.",
    "c": "# Statute C\n\nA deposit must be returned within thirty days of the end of the tenancy.",
}
REASON = "The question names the thirty-day deadline, which gives the answer away."


def legal_models() -> Any:
    """The legal graph's models: each document's own question (round 2 says so), accepted by the loop judge
    with a weak spread, so every round would be kept."""
    base = LegalScript()

    def script(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        if tool == "LegalItem":
            text = last_user_text(messages)
            title = text.split("Document: ")[1].splitlines()[0]
            again = " again" if "(round 2 of" in text else ""
            return legal_item(f"Having read {title}{again}: my landlord kept my $900 deposit. Can he?")
        return base(role, messages, tool)

    return script


def corpus(directory: Path) -> Path:
    directory.mkdir()
    for name, text in DOCUMENTS.items():
        (directory / f"{name}.md").write_text(text, encoding="utf-8")
    return directory


def invoke(server: FakeOpenAIServer, *args: str):
    env = server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false", AUTODATA_REVIEWER="ana")
    return CliRunner().invoke(app, list(args), env=env)


def generate(server: FakeOpenAIServer, sources: Path, out: Path):
    result = invoke(server, "generate", "--task", "legal", "--sources", str(sources), "--out", str(out),
                    "--samples", "2", "--rounds", "2", "--concurrency", "1", "--review")  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def stats(out: Path) -> dict[str, Any]:
    return json.loads((out / "stats.json").read_text())


def waiting(out: Path) -> dict[str, Any]:
    return {pause.doc_id: pause for pause in ReviewLog(out).waiting()}


def writer_prompts(server: FakeOpenAIServer, since: int) -> list[str]:
    return ["\n".join(str(m.get("content")) for m in r.messages) for r in server.requests[since:]
            if r.role == "challenger" and r.tool == "LegalItem"]  # fmt: skip


def test_a_reviewed_legal_run_waits_for_decisions_and_keeps_each_item_with_its_reviews(tmp_path):
    sources, out = corpus(tmp_path / "src"), tmp_path / "run"
    edited = [{**c, "criterion": c["criterion"].replace("Identifies point", "Weighs edited point")}
              for c in legal_item()["rubric"]]  # fmt: skip
    (tmp_path / "rubric.json").write_text(json.dumps({"rubric": edited}), encoding="utf-8")
    with FakeOpenAIServer(legal_models()) as server:
        first = generate(server, sources, out)
        assert stats(out)["awaiting_review"] == 3 and stats(out)["documents"] == 0
        assert "3 document(s) await review" in " ".join(first.output.split())
        assert RunDirectory(out).items() == []
        paused = waiting(out)
        assert sorted(paused) == ["a", "b", "c"]
        assert paused["a"].payload["editable"] == ["question", "rubric"]
        assert paused["a"].payload["rubric"][0]["weight_class"] == "critical"

        decided = invoke(server, "review", str(out), "--approve", paused["a"].item_id, "--reject",
                         paused["c"].item_id, "--reason", REASON, "--edit", paused["b"].item_id,
                         str(tmp_path / "rubric.json"))  # fmt: skip
        assert decided.exit_code == 0, decided.output

        before = len(server.requests)
        generate(server, sources, out)
        items = {item["source_doc_id"]: item for item in RunDirectory(out).items()}
        assert sorted(items) == ["a", "b"]
        assert [(r["decision"], r["reviewer"]) for r in items["a"]["reviews"]] == [("approve", "ana")]
        (edit,) = items["b"]["reviews"]
        assert edit["edited_fields"] == ["rubric"] and edit["needs_rescore"]
        assert items["b"]["rubric"][0]["criterion"] == "Weighs edited point 0 of the deposit rule"
        trajectories = {row["doc_id"]: row for row in RunDirectory(out).trajectories()}
        assert [r["outcome"] for r in trajectories["b"]["rounds"]] == ["review_edit", "accepted"]
        # Only the rejected document called the writer; its next prompt carries the reviewer's reason.
        (rewrite,) = writer_prompts(server, before)
        assert "Statute C" in rewrite and REASON in rewrite
        assert stats(out)["awaiting_review"] == 1 and waiting(out)["c"].payload["round"] == 2

        approved = invoke(server, "review", str(out), "--approve", waiting(out)["c"].item_id, "--reviewer", "bo")
        assert approved.exit_code == 0, approved.output
        generate(server, sources, out)

    items = {item["source_doc_id"]: item for item in RunDirectory(out).items()}
    assert sorted(items) == ["a", "b", "c"]
    assert [(r["decision"], r["reviewer"], r["round"]) for r in items["c"]["reviews"]] == [
        ("reject", "ana", 1), ("approve", "bo", 2)]  # fmt: skip
    assert items["c"]["question"].startswith("Having read Statute C again")
    final = stats(out)
    assert (final["accepted"], final["awaiting_review"]) == (3, 0)
    assert final["rejection_rules"] == {"rejected_by_review:review": 1, "review_edit:review_edit": 1}
    reported = CliRunner().invoke(app, ["report", str(out), "--out", str(tmp_path / "report")],
                                  env={"AUTODATA_NO_PROGRESS": "1"})  # fmt: skip
    assert reported.exit_code == 0, reported.output
    assert "Legal: weak-sample spread" in reported.output

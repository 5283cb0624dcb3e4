"""`autodata generate --task science --review` and `autodata review` as users run them (the CLI in-process,
against the request-logging fake OpenAI server): the documents whose item would be kept wait for a person, the
reviewer approves, rejects and edits them, and the same `generate` command carries them on, each item written
once with its `reviews`. What the endpoint received shows that an edited answer is scored again without a
challenger or screen call, and that a rejection's reason reaches the diagnosis."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from autodata.cli import app
from autodata.engine.reviews import ReviewLog
from autodata.engine.rundir import load_run
from autodata.report.html import write_report
from autodata.report.tables import build_report
from autodata.tasks import report_sections
from autodata.tasks.science.report import science_checks
from tests.support.fake_openai import FakeOpenAIServer, FakeRequest
from tests.support.science_script import ScienceScript, science_draft

NEW_ANSWER = "the Lorentz force law"
REASON = "the question gives its own answer away"


def problems(directory: Path, n: int = 3) -> Path:
    directory.mkdir()
    source = directory / "problems.jsonl"
    rows = [{"question": f"Which force acts in setup {i}?", "answer": "the Lorentz force", "dataset": "Physics"}
            for i in range(n)]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return source


def per_seed_script() -> ScienceScript:
    """Drafts named after their seed; the strong solver always names the Lorentz force, the weak one never."""

    def draft(rnd: int, index: int, prompt: str) -> dict:
        seed = prompt.split("Problem: ")[1].splitlines()[0].rstrip("?")
        return science_draft(f"{seed}, variant {index} of round {rnd}?")

    return ScienceScript(draft=draft)


def invoke(server: FakeOpenAIServer, *args: str):
    env = server.settings_env(AUTODATA_NO_PROGRESS="1", LANGSMITH_TRACING="false", AUTODATA_REVIEWER="ana")
    return CliRunner().invoke(app, list(args), env=env)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def request_text(request: FakeRequest) -> str:
    return " ".join(str(m.get("content") or "") for m in request.messages)


def test_science_items_wait_for_review_and_the_next_run_keeps_them_with_their_reviews(tmp_path):
    source, out = problems(tmp_path / "src"), tmp_path / "run"
    generate = ["generate", "--task", "science", "--sources", str(source), "--out", str(out), "--samples", "4",
                "--rounds", "2", "--review"]  # fmt: skip
    with FakeOpenAIServer(per_seed_script()) as server:
        first = invoke(server, *generate)
        assert first.exit_code == 0, first.output
        stats = json.loads((out / "stats.json").read_text())
        assert (stats["awaiting_review"], stats["documents"]) == (3, 0)
        assert not (out / "items.jsonl").exists() or jsonl(out / "items.jsonl") == []
        waiting = {pause.doc_id: pause for pause in ReviewLog(out).waiting()}
        approved, rejected, edited = (waiting[doc] for doc in sorted(waiting))
        assert approved.payload["passed_by"].startswith("weak 0 of 4 correct (at most 1 allowed), strong 4 of 4")
        assert approved.payload["editable"] == ["context", "question", "reference_answer"]

        rubric = tmp_path / "rubric.json"
        rubric.write_text(json.dumps({"rubric": []}), encoding="utf-8")
        refused = invoke(server, "review", str(out), "--edit", approved.item_id, str(rubric))
        assert refused.exit_code == 2 and "no rubric to edit" in refused.output  # a science item has none
        edits = tmp_path / "edits.json"
        edits.write_text(json.dumps({"reference_answer": NEW_ANSWER}), encoding="utf-8")
        decided = invoke(server, "review", str(out), "--approve", approved.item_id, "--reject", rejected.item_id,
                         "--reason", REASON, "--edit", edited.item_id, str(edits))  # fmt: skip
        assert decided.exit_code == 0, decided.output

        before = len(server.requests)
        second = invoke(server, *generate)
        assert second.exit_code == 0, second.output
        carried_on = server.requests[before:]

        # The edited item was solved and checked again as is: no challenger, screen or diagnosis call for it.
        question = edited.payload["question"]
        assert Counter(r.role for r in carried_on if question in request_text(r)) == {"weak": 4, "strong": 4,
                                                                                     "judge": 8}  # fmt: skip
        assert all(NEW_ANSWER in request_text(r) for r in carried_on if r.role == "judge" and question in
                   request_text(r))  # fmt: skip
        # The rejected document's diagnosis saw the reason, and its next round's challengers got it.
        (diagnosis,) = [r for r in carried_on if r.role == "orchestrator" and "<reviewer_reason>" in request_text(r)]
        assert f"<reviewer_reason>{REASON}</reviewer_reason>" in request_text(diagnosis)
        challengers = [r for r in carried_on if r.role == "challenger"]
        assert len(challengers) == 4 and all(REASON in request_text(r) for r in challengers)

        items = {item["source_doc_id"]: item for item in jsonl(out / "items.jsonl")}
        assert sorted(items) == sorted([approved.doc_id, edited.doc_id])
        assert [(r["decision"], r["reviewer"]) for r in items[approved.doc_id]["reviews"]] == [("approve", "ana")]
        (edit,) = items[edited.doc_id]["reviews"]
        assert (edit["decision"], edit["edited_fields"], edit["needs_rescore"]) == ("edit", ["reference_answer"], True)
        assert items[edited.doc_id]["reference_answer"] == NEW_ANSWER
        trajectories = {row["doc_id"]: row for row in jsonl(out / "trajectories.jsonl")}
        assert [r["rule"] for r in trajectories[edited.doc_id]["rounds"]] == ["review_edit", None]
        # The rejected document's second round waits for a person again.
        (again,) = ReviewLog(out).waiting()
        assert (again.doc_id, again.payload["round"]) == (rejected.doc_id, 2)

        assert invoke(server, "review", str(out), "--approve", again.item_id, "--reviewer", "cy").exit_code == 0
        third = invoke(server, *generate)
        assert third.exit_code == 0, third.output

    rows = jsonl(out / "items.jsonl")
    assert sorted(item["source_doc_id"] for item in rows) == sorted(waiting)
    reviews = {item["source_doc_id"]: [(r["decision"], r["reviewer"]) for r in item["reviews"]] for item in rows}
    assert reviews[rejected.doc_id] == [("reject", "ana"), ("approve", "cy")]
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["awaiting_review"], stats["accepted"]) == (0, 3)
    assert stats["rejection_rules"] == {"failed_quality_check:review": 1, "failed_quality_check:review_edit": 1}
    from datasets import load_from_disk

    exported = {row["source_doc_id"]: row for row in load_from_disk(str(out / "dataset"))}
    assert [r["decision"] for r in exported[edited.doc_id]["reviews"]] == ["edit"]
    # The science report counts the rounds reviewers closed.
    assert science_checks(load_run(out)).reviewed == {"review": 1, "review_edit": 1}
    html = write_report(build_report([out]), tmp_path / "report", report_sections()).read_text()
    assert ("Reviewed: run: 1 passing candidate(s) rejected by a reviewer, 1 evaluated again after a reviewer "
            "edited the reference answer.") in html

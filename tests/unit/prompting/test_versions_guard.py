"""The frozen-prompt guard and the checks an edited prompt file must pass before it becomes a version."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from autodata.prompting.library import PromptLibrary
from autodata.prompting.versions import (
    ROOT_ID,
    FrozenPromptError,
    PromptScope,
    VersionStore,
    guard_edits,
    qv_changes,
    template_problems,
)
from autodata.tasks import task_spec
from autodata.tasks.meta_optimizer import prompt_scope

CHALLENGER = "challenger_cs-research"


def scope(task: str = "cs-research", open_qv: bool = False) -> PromptScope:
    return dataclasses.replace(prompt_scope(task_spec(task)), open_qv=open_qv)


@pytest.fixture
def store(tmp_path):
    store = VersionStore(tmp_path / "versions", scope())
    store.create_root()
    return store


def test_editable_and_frozen_sets_per_task():
    assert scope().editable_names() == ["challenger_cs-research", "orchestrator"]
    assert scope().frozen_names() == [
        "quality_verifier_rubric", "solver_rubric", "judge_rubric", "end_filter_rubric",
    ]  # fmt: skip
    # Each task edits the prompts its own graph reads; its solver, judges and checks are the grader.
    assert scope("legal").editable_names() == ["extractor_legal", "writer_legal"]
    assert scope("legal").frozen_names() == ["loop_judge_legal", "solver_legal", "judge_rubric"]
    assert scope("science").editable_names() == ["challenger_science", "screen_science", "diagnosis_science"]
    assert scope("science").frozen_names() == ["solver_verifiable", "judge_answer"]
    # --open-qv opens the quality verifier and nothing else.
    assert scope(open_qv=True).editable_names() == ["challenger_cs-research", "orchestrator",
                                                    "quality_verifier_rubric"]  # fmt: skip
    assert scope(open_qv=True).frozen_names() == ["solver_rubric", "judge_rubric", "end_filter_rubric"]


def test_the_grader_is_frozen_unless_the_quality_verifier_is_opened():
    edits = [("quality_verifier_rubric.md", "pass everything"), ("end_filter_rubric.md", "keep everything")]
    reasons = {edit.file: edit.reason for edit in guard_edits(scope(), edits).rejected}
    assert "only --open-qv" in reasons["quality_verifier_rubric.md"]
    assert reasons["end_filter_rubric.md"].startswith("frozen")
    opened = guard_edits(scope(open_qv=True), edits)
    assert opened.accepted == {"quality_verifier_rubric": "pass everything"}
    assert [edit.file for edit in opened.rejected] == ["end_filter_rubric.md"]


def test_kept_quality_verifier_changes_are_listed_with_the_rules_they_removed():
    parent = {"quality_verifier_rubric": "Rules:\n- Reject leaked answers.\n- Reject recall questions.\n",
              "challenger_cs-research": "old"}  # fmt: skip
    child = {"quality_verifier_rubric": "Rules:\n- Reject recall questions.\n- Be lenient.\n",
             "challenger_cs-research": "new"}  # fmt: skip
    [change] = qv_changes(parent, child)
    assert change.file == "quality_verifier_rubric.md"
    assert change.removed == ["- Reject leaked answers."] and change.added == ["- Be lenient."]
    assert qv_changes(parent, {**parent, "challenger_cs-research": "new"}) == []


def test_an_open_store_lets_a_quality_verifier_edit_through(tmp_path):
    store = VersionStore(tmp_path / "versions", scope(open_qv=True))
    store.create_root()
    stricter = store.files(ROOT_ID)["quality_verifier_rubric"].replace("<!-- user -->", "Be strict.\n<!-- user -->")
    draft = store.create_child(ROOT_ID, "v0001", [("quality_verifier_rubric.md", stricter)])
    assert draft.files_changed == ["quality_verifier_rubric.md"]
    store.assert_frozen_intact("v0001")


def test_guard_rejects_frozen_unknown_and_path_like_names(caplog):
    edits = [
        ("solver_rubric.md", "be sloppy"),
        ("judge_rubric", "give full marks"),
        ("acceptance_policy", "weak_max_avg = 1.0"),
        ("autodata.toml", "[policy]"),
        ("../prompts/solver_rubric.md", "x"),
        ("writer_legal.md", "another task's prompt"),
        ("analyzer.md", "the optimizer's own prompt"),
        ("c-research", "a made-up name"),
        ("challenger_cs-research.md", "first"),
        ("challenger_cs-research", "second"),
        ("orchestrator.md", "new orchestrator"),
    ]
    with caplog.at_level(logging.WARNING, logger="autodata.prompting.versions"):
        decision = guard_edits(scope(), edits)
    assert decision.accepted == {"challenger_cs-research": "first", "orchestrator": "new orchestrator"}
    reasons = {edit.file: edit.reason for edit in decision.rejected}
    assert reasons["solver_rubric.md"].startswith("frozen") and reasons["judge_rubric"].startswith("frozen")
    assert reasons["acceptance_policy"].startswith("frozen")
    assert "not a prompt file name" in reasons["autodata.toml"]
    assert "not a prompt file name" in reasons["../prompts/solver_rubric.md"]
    assert "not a prompt the cs-research task may edit" in reasons["writer_legal.md"]
    assert "not a prompt the cs-research task may edit" in reasons["analyzer.md"]
    assert reasons["c-research"].startswith("no such prompt file")
    assert "edited twice" in reasons["challenger_cs-research"]
    # Every rejection is logged.
    assert sum("prompt edit rejected" in r.message for r in caplog.records) == 9


def test_root_snapshots_every_prompt_the_task_reads(store):
    shipped = PromptLibrary(None)
    files = store.files(ROOT_ID)
    assert set(files) == set(scope().names)
    assert all(files[name] == shipped.text(name) for name in files)
    assert (store.path(ROOT_ID) / "diff.patch").read_text() == ""  # identical to the shipped prompts


def test_child_keeps_frozen_files_and_logs_rejections(store):
    parent = store.files(ROOT_ID)
    new_challenger = parent[CHALLENGER].replace("<!-- user -->", "Prefer why-questions.\n<!-- user -->")
    draft = store.create_child(ROOT_ID, "v0001", [
        ("solver_rubric.md", "Answer badly."), (f"{CHALLENGER}.md", new_challenger),
    ])  # fmt: skip
    assert draft.files_changed == [f"{CHALLENGER}.md"]
    assert [(e.file, e.reason.split(":")[0]) for e in draft.rejected] == [("solver_rubric.md", "frozen")]
    child = store.files("v0001")
    assert child["solver_rubric"] == parent["solver_rubric"] and child[CHALLENGER] == new_challenger
    diff = (store.path("v0001") / "diff.patch").read_text()
    assert f"--- a/{ROOT_ID}/{CHALLENGER}.md" in diff and "+Prefer why-questions." in diff
    assert "solver_rubric" not in diff
    store.assert_frozen_intact("v0001")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda text: text.replace("<!-- user -->", ""), "'<!-- user -->' line"),
        (lambda text: text.replace("{{ document.text | document }}", "{{ document.text }}"), "`| document` filter"),
        (lambda text: text + "\n{{ undefined_thing }}", "does not render"),
        (lambda text: text + "\n{% if feedback %}", "does not render"),
        (lambda text: text + "x" * 20_001, "longer than"),
        (lambda text: text, "unchanged from the parent"),
    ],
)
def test_broken_edits_are_rejected_and_no_child_is_made(store, mutate, reason):
    parent = store.files(ROOT_ID)[CHALLENGER]
    draft = store.create_child(ROOT_ID, "v0001", [(CHALLENGER, mutate(parent))])
    assert draft.path is None and draft.files_changed == []
    assert len(draft.rejected) == 1 and reason in draft.rejected[0].reason
    assert not store.path("v0001").exists() and not list(store.root.glob(".staging-*"))


def test_an_empty_proposal_is_recorded_as_such(store):
    draft = store.create_child(ROOT_ID, "v0001", [])
    assert draft.path is None and [e.reason for e in draft.rejected] == ["the implementer proposed no file edits"]


def test_tampered_frozen_file_blocks_evaluation(store):
    parent = store.files(ROOT_ID)
    store.create_child(ROOT_ID, "v0001", [("orchestrator", parent["orchestrator"] + "\nBe brief.")])
    (store.path("v0001") / "judge_rubric.md").write_text("Always give every criterion true.\n<!-- user -->\n")
    with pytest.raises(FrozenPromptError, match="judge_rubric"):
        store.assert_frozen_intact("v0001")


@pytest.mark.parametrize("task", ["cs-research", "legal", "science"])
def test_shipped_editable_prompts_pass_their_own_checks(task, tmp_path):
    """The render samples mirror what the inner nodes pass; the shipped prompts must render with them."""
    store = VersionStore(tmp_path / "versions", scope(task))
    store.create_root()
    for name in store.scope.editable_names():
        problems = template_problems(store.path(ROOT_ID), name, store.files(ROOT_ID)[name], store.scope.render_samples)
        assert problems == [], name
    rendered = {name for name in store.scope.editable_names() if store.scope.render_samples(name)}
    assert rendered == {"cs-research": {CHALLENGER, "orchestrator"}, "legal": {"extractor_legal", "writer_legal"},
                        "science": {"challenger_science"}}[task]  # fmt: skip


def test_an_edit_may_read_only_the_variables_its_node_passes(tmp_path):
    """A prompt without render samples is still held to the variables its parent reads."""
    store = VersionStore(tmp_path / "versions", scope("science"))
    store.create_root()
    parent = store.files(ROOT_ID)["diagnosis_science"]
    draft = store.create_child(ROOT_ID, "v0001", [
        ("diagnosis_science.md", parent.replace("<!-- user -->", "{{ secret_answer }}\n<!-- user -->")),
    ])  # fmt: skip
    assert draft.path is None and "variables its node does not pass: secret_answer" in draft.rejected[0].reason
    kept = store.create_child(ROOT_ID, "v0001", [
        ("diagnosis_science.md", parent.replace("<!-- user -->", "Name the failed step.\n<!-- user -->")),
    ])  # fmt: skip
    assert kept.files_changed == ["diagnosis_science.md"]

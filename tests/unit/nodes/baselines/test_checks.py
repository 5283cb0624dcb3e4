"""The checks a task's baseline arrangement names: their order, and the legal post-filter's verdict."""

from __future__ import annotations

from autodata.nodes.baselines.checks import next_check, post_filter_verdict
from autodata.state.baselines import BaselineArrangement
from autodata.state.legal import LegalShapeRules

CS = BaselineArrangement()
LEGAL = BaselineArrangement(quality_verifier=False, end_filter=False, question_post_filter=LegalShapeRules())


def test_checks_run_in_order_and_only_when_the_arrangement_names_them():
    assert [next_check(CS), next_check(CS, "quality_verifier"), next_check(CS, "end_filter")] == [
        "quality_verifier", "end_filter", None]  # fmt: skip
    assert next_check(LEGAL) == "post_filter" and next_check(LEGAL, "post_filter") is None
    assert next_check(BaselineArrangement(quality_verifier=False, end_filter=False)) is None


def test_the_post_filter_rejects_a_case_recap_and_passes_a_client_question():
    verdict = post_filter_verdict("In re Smith, the court of appeals held what?", LEGAL)
    assert not verdict.passed and verdict.stage == "end_filter" and verdict.rule == "post_filter_case_recap"
    assert any("'court of appeals'" in reason for reason in verdict.reasons)
    assert post_filter_verdict("My landlord kept my deposit. Can he?", LEGAL).passed
    long_question = "Can he? " * 200
    assert post_filter_verdict(long_question, LEGAL).rule == "post_filter_body_length"
    assert post_filter_verdict(long_question, CS).passed  # no post-filter in the CS arrangement

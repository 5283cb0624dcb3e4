"""Legal rules checked in code: rubric shape, post-filter, and the diagnostic packet's arithmetic."""

from __future__ import annotations

import pytest

from autodata.rules.legal_diagnostics import build_packet
from autodata.rules.legal_shape import post_filter_flags, rubric_shape_violations
from autodata.rules.scoring import rubric_score
from autodata.state.legal import LegalItem, LegalShapeRules
from autodata.state.schemas import AttemptScore, SolverAttempt
from tests.support.legal_script import legal_item

RULES = LegalShapeRules()


def item_with(**changes) -> LegalItem:
    raw = legal_item()
    raw.update(changes)
    return LegalItem.model_validate(raw)


def test_a_well_formed_item_has_no_violations():
    assert rubric_shape_violations(LegalItem.model_validate(legal_item()), RULES) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r[:14], "rubric has 14 criteria; it needs 15-25"),
        (lambda r: r * 2, "rubric has 32 criteria; it needs 15-25"),
        (lambda r: [c for c in r if c["weight"] > 0] + r[:1],
         "rubric has no negative criterion; it needs at least one"),
        (lambda r: [{**r[0], "weight": 7.0}] + r[1:], "criterion 1: weight 7 is outside the critical range 8..10"),
        (lambda r: r[:-1] + [{**r[-1], "weight": -12.0}],
         "criterion 16: weight -12 is outside the negative range -10..-1"),
        (lambda r: [{**r[0], "capability": "Rule ID"}] + r[1:],
         "criterion 1: capability 'Rule ID' is not a snake_case tag"),
        (lambda r: [{**r[0], "criterion": "Names the rule; explains the exception"}] + r[1:],
         "criterion 1: states more than one proposition"),
        (lambda r: r[:-1] + [{**r[-1], "criterion": "Does not mention the notice period"}],
         "criterion 16: a negative criterion must name the mistake affirmatively ('Asserts that ...')"),
    ],
)  # fmt: skip
def test_shape_violations_are_reasons(change, reason):
    raw = legal_item()
    item = LegalItem.model_validate({**raw, "rubric": change(raw["rubric"])})
    assert reason in rubric_shape_violations(item, RULES)


def test_the_negative_count_is_configurable_like_the_cs_rubric_shape():
    positives_only = item_with(rubric=[c for c in legal_item()["rubric"] if c["weight"] > 0])
    assert not any("negative" in r for r in rubric_shape_violations(positives_only, LegalShapeRules(min_negative=0)))
    reasons = rubric_shape_violations(LegalItem.model_validate(legal_item()), LegalShapeRules(min_negative=3))
    assert any(r.startswith("rubric has ") and r.endswith("it needs at least 3") for r in reasons)


def test_the_demo_switches_turn_off_the_per_criterion_rules_only():
    raw = legal_item()
    raw["rubric"][0].update(weight=0.5, capability="Rule ID", criterion="Names the rule. Explains it.")
    summaries = {"rewarded": "Applying the rule to the facts.", "penalised": "Misstating the rule."}
    item = LegalItem.model_validate({**raw, "target_capabilities": {"primary": [], "secondary": [], **summaries}})
    relaxed = LegalShapeRules(weight_ranges=False, capability_tags=False, one_proposition=False)
    assert rubric_shape_violations(item, relaxed) == []
    assert len(rubric_shape_violations(item, RULES)) == 5
    # Counts stay checked: the size and negative count follow [policy] (min_rubric_criteria, min_negative_criteria).
    assert rubric_shape_violations(LegalItem.model_validate({**raw, "rubric": raw["rubric"][:3]}), relaxed) == [
        "rubric has 3 criteria; it needs 15-25", "rubric has no negative criterion; it needs at least one"
    ]


def test_target_capability_counts_are_checked():
    item = item_with(target_capabilities={"primary": ["a_b"], "secondary": []})
    reasons = rubric_shape_violations(item, RULES)
    assert "target_capabilities has 1 primary tags; it needs 2-4" in reasons
    assert "target_capabilities has 0 secondary tags; it needs 1-3" in reasons


def test_post_filter_families_and_no_false_positive_inside_words():
    assert post_filter_flags("I signed the contract as a tenant in 2021 and gave notice on appeal day?", RULES) == [
        "case_recap: the question contains 'on appeal'"
    ]
    assert post_filter_flags("In re Smith, what happens?", RULES) == ["case_recap: the question contains 'in re'"]
    assert post_filter_flags("Act as my lawyer: can I break the lease?", RULES) == [
        "exam_prompt: the question contains 'act as'"
    ]
    assert post_filter_flags("A deed from 1899 and one from 1939 but not 1940?", RULES) == [
        "old_year: the question mentions 1899", "old_year: the question mentions 1939"
    ]
    assert post_filter_flags("x" * 1001, RULES) == ["body_length: the question has 1001 characters (max 1000)"]
    assert post_filter_flags("x" * 1000, RULES) == []


def test_capability_table_matches_a_hand_computed_fixture():
    item = LegalItem.model_validate({
        "question": "Q?",
        "rubric": [
            {"criterion": "A", "weight": 9, "weight_class": "critical", "capability": "rule"},
            {"criterion": "B", "weight": 6, "weight_class": "important", "capability": "rule"},
            {"criterion": "C", "weight": 3, "weight_class": "minor", "capability": "remedy"},
            {"criterion": "Asserts D", "weight": -5, "weight_class": "negative", "capability": "remedy"},
        ],
    })  # fmt: skip
    hits = {("weak", 0): [True, False, True, False], ("weak", 1): [False, False, False, True],
            ("strong", 0): [True, True, True, False]}  # fmt: skip
    scores = [AttemptScore(round=1, role=role, sample_index=i, score=rubric_score(item.rubric, h), criteria_hits=h)
              for (role, i), h in hits.items()]  # fmt: skip
    attempts = [SolverAttempt(round=1, role=role, sample_index=i, answer=f"{role} {i}") for role, i in hits]
    packet = build_packet(item, attempts, scores, flags=[])

    # rule (|w| 15): weak 9/15 and 0/15 -> 30%, strong 15/15 -> 100%.
    # remedy (|w| 8): weak 3+5 (mistake avoided) -> 100% and 0 -> 0%, mean 50%; strong 8/8 -> 100%.
    table = [(r.capability, r.criteria, round(r.weak_pct, 6), round(r.strong_pct, 6), round(r.gap_pct, 6))
             for r in packet.capabilities]  # fmt: skip
    assert table == [("rule", 2, 30.0, 100.0, 70.0), ("remedy", 2, 50.0, 100.0, 50.0)]
    # Scores: positive weight 18; weak 12/18 and clip(-5/18) = 0; strong 18/18.
    assert packet.weak_avg == pytest.approx(1 / 3) and packet.strong_avg == 1.0
    assert packet.gap == pytest.approx(2 / 3) and packet.weak_std == pytest.approx(1 / 3)
    assert (packet.weak_valid, packet.strong_valid) == (2, 1)
    assert [(c.weak_hits, c.weak_graded, c.strong_hits) for c in packet.criteria] == [
        (1, 2, 1), (0, 2, 1), (1, 2, 1), (1, 2, 0)
    ]
    assert [s.role for s in packet.samples] == ["weak", "weak", "strong"]


def test_rubric_change_reports_an_eased_rubric():
    before, after = LegalItem.model_validate(legal_item(n=18)), LegalItem.model_validate(legal_item(n=15))
    packet = build_packet(after, [], [], flags=[], previous=before)
    assert packet.rubric_change.startswith("criteria 18 -> 15; total positive weight")

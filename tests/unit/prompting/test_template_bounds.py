"""The template check is bounded: however deeply a template nests, the check gives a verdict (a PromptError
naming the limit) and never a RecursionError, on every path a prompt file is checked through."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autodata.prompting.library import SHIPPED_PROMPTS_DIR, USER_MARKER, PromptError, UnsafePromptError, check_template
from autodata.prompting.sandbox import MAX_NESTING, MAX_TEMPLATE_CHARS, MAX_TREE_DEPTH, shape_problem
from autodata.prompting.versions import template_problems

DEEP = {
    "parentheses": "{{ " + "(" * 100 + "x" + ")" * 100 + " }}",
    "brackets": "{{ " + "[" * 100 + "x" + "]" * 100 + " }}",
    "braces in a statement": "{% if " + "{'a': " * 100 + "1" + "}" * 100 + " %}x{% endif %}",
    "if blocks": "{% if a %}" * 200 + "x" + "{% endif %}" * 200,
    "for inside if blocks": ("{% if a %}" * 30) + "{% for i in x %}{{ i }}{% endfor %}" + ("{% endif %}" * 30),
    "not chain": "{{ " + "not " * 3000 + "x }}",
    "unary minus chain": "{{ " + "-" * 4000 + "x }}",
    "filter chain": "{{ x" + "|lower" * 2000 + " }}",
    "attribute chain": "{{ x" + ".a" * 4000 + " }}",
    "additions": "{{ x" + " + x" * 3000 + " }}",
    "unclosed parentheses": "{{ " + "(" * 5000 + " }}",
}


@pytest.mark.parametrize("template", DEEP.values(), ids=DEEP.keys())
def test_deep_templates_get_a_verdict_not_a_recursion_error(template):
    with pytest.raises(PromptError):
        check_template(template, "deep.md")


@pytest.mark.parametrize("template", DEEP.values(), ids=DEEP.keys())
def test_the_verdict_holds_when_the_caller_is_already_deep(template):
    """The optimizer checks edits from inside a graph run, with many frames on the stack already."""

    def at_depth(remaining: int) -> None:
        if remaining:
            return at_depth(remaining - 1)
        with pytest.raises(PromptError):
            check_template(template, "deep.md")

    at_depth(sys.getrecursionlimit() - 250)


def test_the_limits_are_checked_before_parsing_and_name_what_is_over():
    assert shape_problem("x" * (MAX_TEMPLATE_CHARS + 1)) == f"template longer than {MAX_TEMPLATE_CHARS} characters"
    assert "brackets nested more than" in shape_problem(DEEP["parentheses"])
    assert "blocks nested more than" in shape_problem(DEEP["if blocks"])
    with pytest.raises(UnsafePromptError, match=f"expressions nested more than {MAX_TREE_DEPTH} deep"):
        check_template(DEEP["filter chain"], "deep.md")


def test_prose_and_moderate_nesting_pass():
    prose = "(" * 200 + " an unbalanced aside in prose is not code " + "]" * 50
    ok = "{{ " + "(" * MAX_NESTING + "x" + ")" * MAX_NESTING + " }} " + "{% if a %}" * 10 + "y" + "{% endif %}" * 10
    check_template(prose + ok, "fine.md")
    for path in sorted(Path(SHIPPED_PROMPTS_DIR).glob("*.md")):
        assert shape_problem(path.read_text()) is None, path.name


def test_a_deep_proposed_prompt_file_is_rejected_with_a_reason(tmp_path):
    parent = (SHIPPED_PROMPTS_DIR / "challenger_cs-research.md").read_text()
    child = parent.replace(USER_MARKER, f"{USER_MARKER}\n{DEEP['not chain']}", 1)
    (tmp_path / "challenger_cs-research.md").write_text(child)
    assert template_problems(tmp_path, "challenger_cs-research", parent) == [
        "challenger_cs-research.md: unsafe template: nested too deeply to check"
    ]

"""The one Jinja environment every prompt renders in, the static rules a prompt template must pass, and the
budget every render runs under.

Prompt files are code the meta-optimizer's implementer (a model) writes, so they are treated as untrusted.
Four layers keep a template from running code or exhausting the machine:

0. Shape limits, checked on the raw text before Jinja parses it (`shape_problem`): at most
   MAX_TEMPLATE_CHARS characters, brackets inside tags and `{% if %}`/`{% for %}` blocks nested at most
   MAX_NESTING deep. Jinja's parser and compiler recurse once per nesting level, so a deeply nested
   template (a hundred parentheses is enough) would otherwise end in RecursionError instead of a verdict.
   After parsing, the tree itself may be at most MAX_TREE_DEPTH deep (chains such as `a + a + ...` or
   `x|lower|lower|...` nest without brackets), measured without recursion.
1. Static rules, checked on the parsed template before it is compiled or rendered (`unsafe_constructs`).
   Allowed is the subset the shipped prompts use: variables, attribute and constant-index access on them,
   slices, a short list of filters and tests with constant arguments, `{% if %}`, one level of `{% for %}`,
   comparisons, `and`/`or`/`not`, `+`, `-` and `~`, `{% raw %}`. Rejected, with the construct named: any
   name or attribute starting with `_`, Jinja's globals (`cycler`, `range`, `namespace`, `self`, ...), every
   call, the amplifying operators `*`, `/`, `//`, `%`, `**`, `{% set %}`, `{% macro %}`, `{% call %}`,
   `{% import %}`, `{% include %}`, `{% extends %}`, `{% block %}`, `{% with %}`, nested or recursive loops.
   With calls, `set` and amplifying operators gone, every value a template computes is at most a constant
   times the size of its inputs, and with one loop level the work is at most loop length times body size.
2. The sandbox: `ImmutableSandboxedEnvironment` with its globals cleared and its filters and tests cut down
   to the allowed ones, so whatever slipped past the rules still cannot reach unsafe attributes, globals or
   mutating methods.
3. The budget (`render`): output is streamed and stops with `PromptLimitError` past `max_chars`, and a
   wall-clock deadline is checked at every output chunk and every sandboxed attribute, item or call access.
   Python cannot kill a running thread, so the deadline is cooperative; the static rules are what make it
   sufficient: a template that passes them has no step that runs long without producing output or touching
   an attribute, except a loop with an empty body, which is bounded by the length of its (data) iterable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.sandbox import ImmutableSandboxedEnvironment

ALLOWED_FILTERS = frozenset({
    "document", "join", "length", "count", "lower", "upper", "title", "capitalize", "trim", "first", "last",
    "default", "d", "string",
})  # fmt: skip
ALLOWED_TESTS = frozenset({
    "defined", "undefined", "none", "number", "string", "sequence", "mapping", "boolean", "true", "false", "even",
    "odd",
})  # fmt: skip
FORBIDDEN_NAMES = frozenset({*DEFAULT_NAMESPACE, "self", "caller", "varargs", "kwargs"})
MAX_ARGUMENT_CHARS = 100  # a long constant join separator would multiply the output by its length
# The shipped prompts are under 6,000 characters, nest brackets 4 deep and parse to trees 8 deep.
MAX_TEMPLATE_CHARS = 200_000
MAX_NESTING = 20
MAX_TREE_DEPTH = 48

_TAG_TOKEN = re.compile(r"\{\{|\{%|\}\}|%\}|[()\[\]{}]")
_BLOCK_TAG = re.compile(r"\{%[-+]?\s*(end)?(if|for|filter|macro|call|block|with|autoescape)\b")

_STRUCTURE = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.For)
_EXPRESSIONS = (
    nodes.Name, nodes.Const, nodes.Tuple, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter, nodes.Test,
    nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub,
    nodes.Concat, nodes.CondExpr,
)  # fmt: skip
_AMPLIFYING = {nodes.Mul: "*", nodes.Div: "/", nodes.FloorDiv: "//", nodes.Mod: "%", nodes.Pow: "**"}
_STATEMENTS = {
    nodes.Assign: "{% set %}", nodes.AssignBlock: "{% set %}", nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.Import: "{% import %}", nodes.FromImport: "{% from ... import %}", nodes.Include: "{% include %}",
    nodes.Extends: "{% extends %}", nodes.Block: "{% block %}", nodes.With: "{% with %}",
    nodes.FilterBlock: "{% filter %}", nodes.ScopedEvalContextModifier: "{% autoescape %}",
}  # fmt: skip


@dataclass(frozen=True)
class RenderLimits:
    """What one render may spend: wall-clock seconds and characters of output."""

    seconds: float = 10.0
    max_chars: int = 2_000_000


class RenderLimitError(RuntimeError):
    """A render ran past its RenderLimits."""


_deadline: ContextVar[float | None] = ContextVar("prompt_render_deadline", default=None)


def _check_deadline() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise RenderLimitError("rendering ran past its time limit")


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, checking the render deadline at every attribute, item and call access."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_deadline()
        return super().getitem(obj, argument)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)


def build_environment(filters: dict[str, Any]) -> PromptSandbox:
    """The prompt environment: no globals, only the allowed filters and tests (plus `filters`)."""
    env = PromptSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    env.globals.clear()
    env.filters.update(filters)
    env.filters = {name: function for name, function in env.filters.items() if name in ALLOWED_FILTERS}
    env.tests = {name: function for name, function in env.tests.items() if name in ALLOWED_TESTS}
    return env


def shape_problem(text: str) -> str | None:
    """Why `text` is too large or too deeply nested to parse safely; None when it is within the limits.

    A linear scan of the raw text, run before Jinja sees it.
    """
    if len(text) > MAX_TEMPLATE_CHARS:
        return f"template longer than {MAX_TEMPLATE_CHARS} characters"
    if _bracket_nesting(text) > MAX_NESTING:
        return f"brackets nested more than {MAX_NESTING} deep inside a template tag"
    if _block_nesting(text) > MAX_NESTING:
        return f"{{% if %}} / {{% for %}} blocks nested more than {MAX_NESTING} deep"
    return None


def _bracket_nesting(text: str) -> int:
    """The deepest nesting of (), [] and {} inside `{{ }}` and `{% %}` tags (prose outside them is not code)."""
    deepest = depth = 0
    in_tag = False
    for match in _TAG_TOKEN.finditer(text):
        token = match.group()
        if not in_tag:
            in_tag = token in ("{{", "{%")
        elif token in ("}}", "%}") and depth == 0:
            in_tag = False
        else:
            for char in token:
                depth = depth + 1 if char in "([{" else max(0, depth - 1) if char in ")]}" else depth
            deepest = max(deepest, depth)
    return deepest


def _block_nesting(text: str) -> int:
    deepest = depth = 0
    for match in _BLOCK_TAG.finditer(text):
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


def tree_depth(tree: nodes.Node) -> int:
    """How deep the node tree goes, counted without recursion."""
    deepest = 0
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def unsafe_constructs(tree: nodes.Template) -> list[str]:
    """Every construct in a parsed template that the static rules forbid, described; empty when safe."""
    if tree_depth(tree) > MAX_TREE_DEPTH:  # the rule walk below recurses once per level
        return [f"expressions nested more than {MAX_TREE_DEPTH} deep"]
    return list(dict.fromkeys(_violations(tree, in_loop=False)))


def _violations(node: nodes.Node, in_loop: bool) -> Iterator[str]:
    reason = _own_violation(node, in_loop)
    if reason:
        yield reason
    for child in node.iter_child_nodes():
        yield from _violations(child, in_loop or isinstance(node, nodes.For))


def _own_violation(node: nodes.Node, in_loop: bool) -> str | None:
    if type(node) in _STATEMENTS:
        return f"{_STATEMENTS[type(node)]} is not allowed"
    if type(node) in _AMPLIFYING:
        return f"the operator '{_AMPLIFYING[type(node)]}' is not allowed"
    if isinstance(node, nodes.Call):
        return "calling a function or method is not allowed"
    if not isinstance(node, _STRUCTURE + _EXPRESSIONS):
        return f"the construct {type(node).__name__} is not allowed"
    if isinstance(node, nodes.For):
        return _loop_violation(node, in_loop)
    if isinstance(node, nodes.Name):
        return _name_violation(node.name)
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"the attribute '{node.attr}' is not allowed (no names starting with '_')"
    if isinstance(node, nodes.Getitem):
        return _subscript_violation(node.arg)
    if isinstance(node, nodes.Filter | nodes.Test):
        return _filter_violation(node)
    return None


def _loop_violation(node: nodes.For, in_loop: bool) -> str | None:
    if in_loop:
        return "a {% for %} inside another {% for %} is not allowed"
    if node.recursive:
        return "a recursive {% for %} is not allowed"
    return None


def _name_violation(name: str) -> str | None:
    if name.startswith("_"):
        return f"the name '{name}' is not allowed (no names starting with '_')"
    if name in FORBIDDEN_NAMES:
        return f"the Jinja global '{name}' is not allowed"
    return None


def _subscript_violation(arg: nodes.Node) -> str | None:
    if isinstance(arg, nodes.Slice):
        bounds = (arg.start, arg.stop, arg.step)
        if all(b is None or (isinstance(b, nodes.Const) and type(b.value) is int) for b in bounds):
            return None
        return "a slice with non-constant bounds is not allowed"
    if isinstance(arg, nodes.Const) and type(arg.value) is int:
        return None
    if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and not arg.value.startswith("_"):
        return None
    return "a subscript other than a constant index, a constant key not starting with '_', or a slice is not allowed"


def _filter_violation(node: nodes.Filter | nodes.Test) -> str | None:
    kind, allowed = ("filter", ALLOWED_FILTERS) if isinstance(node, nodes.Filter) else ("test", ALLOWED_TESTS)
    if node.name not in allowed:
        return f"the {kind} '{node.name}' is not allowed (allowed: {', '.join(sorted(allowed))})"
    if node.kwargs or node.dyn_args or node.dyn_kwargs:
        return f"the {kind} '{node.name}' may take positional constant arguments only"
    for arg in node.args:
        if not isinstance(arg, nodes.Const) or (isinstance(arg.value, str) and len(arg.value) > MAX_ARGUMENT_CHARS):
            return f"the {kind} '{node.name}' takes only constant arguments of at most {MAX_ARGUMENT_CHARS} characters"
    return None


def render(template: jinja2.Template, variables: dict[str, Any], limits: RenderLimits) -> str:
    """Render `template`, streaming its output, within `limits` (RenderLimitError past them)."""
    token = _deadline.set(time.monotonic() + limits.seconds)
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > limits.max_chars:
                raise RenderLimitError(f"rendering produced more than {limits.max_chars} characters")
            _check_deadline()
            parts.append(chunk)
        return "".join(parts)
    finally:
        _deadline.reset(token)

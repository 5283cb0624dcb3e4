"""Prompt files: one per role and task family, Jinja2 templates with a system part and a user part.

A prompt file is markdown; the line `<!-- user -->` separates the system message (above) from the user
message template (below). Source documents are inserted only through the `document` filter, which wraps
them in delimiters and neutralises any delimiter (or look-alike of one) inside, so the text is always data,
never instructions.

Prompt templates are untrusted (the meta-optimizer's implementer writes them): every one is checked against
the static rules of `autodata.prompting.sandbox` before it is compiled, and renders in its sandbox, within a
time and size budget. Every render path (shipped prompts, `--prompts DIR`, versions, Studio's `prompts_dir`)
goes through `PromptLibrary.messages`, the only place templates are compiled.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from autodata.prompting.sandbox import (
    RenderLimitError,
    RenderLimits,
    build_environment,
    render,
    shape_problem,
    unsafe_constructs,
)
from autodata.prompting.delimiters import defang
from autodata.prompting.resources import package_dir

SHIPPED_PROMPTS_DIR = package_dir("autodata.prompts")
USER_MARKER = "<!-- user -->"
DOC_OPEN, DOC_CLOSE = "<source_document>", "</source_document>"



class PromptError(ValueError):
    pass


class UnsafePromptError(PromptError):
    """A prompt template uses a construct the static rules forbid; it is never compiled or rendered."""


class PromptLimitError(PromptError):
    """A render ran past its time or size limit."""


def as_document(text: str) -> str:
    """Delimit untrusted text; a delimiter inside it, or a look-alike of one, is defanged so it cannot close
    the block early (see `autodata.prompting.delimiters`)."""
    return f"{DOC_OPEN}\n{defang(text)}\n{DOC_CLOSE}"


_ENV = build_environment({"document": as_document})


def check_template(text: str, origin: str) -> None:
    """Raise PromptError if `text` does not parse, UnsafePromptError if it is too large or deeply nested to
    check or breaks the static rules. Bounded: the shape limits are checked before Jinja parses."""
    if problem := shape_problem(text):
        raise UnsafePromptError(f"{origin}: unsafe template: {problem}")
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"{origin}: template syntax error (line {exc.lineno}): {exc.message}") from None
    except RecursionError:  # a nesting the shape scan does not count, such as `not not not ...`
        raise UnsafePromptError(f"{origin}: unsafe template: nested too deeply to check") from None
    problems = unsafe_constructs(tree)
    if problems:
        raise UnsafePromptError(f"{origin}: unsafe template: {'; '.join(problems)}")


def split_prompt(text: str, origin: str) -> tuple[str, str]:
    """The system and user parts of a prompt file's text."""
    if USER_MARKER not in text:
        raise PromptError(f"{origin}: prompt file has no '{USER_MARKER}' line separating system and user parts")
    system, user = text.split(USER_MARKER, 1)
    return system.strip(), user.strip()


def check_prompt_text(text: str, origin: str) -> None:
    """Raise PromptError unless the prompt file text `text` (read from `origin`) is safe to compile."""
    for part in split_prompt(text, origin):
        check_template(part, origin)


@lru_cache(maxsize=256)
def _compile(text: str, origin: str) -> tuple[jinja2.Template, jinja2.Template]:
    check_prompt_text(text, origin)
    system, user = split_prompt(text, origin)
    try:
        return _ENV.from_string(system), _ENV.from_string(user)
    except RecursionError:
        raise UnsafePromptError(f"{origin}: unsafe template: nested too deeply to compile") from None


def read_prompt_file(path: Path) -> str:
    """A prompt file's text; PromptError when it is not UTF-8 text."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PromptError(f"{path}: not UTF-8 text (byte {exc.start}); save the prompt file as UTF-8") from None


@lru_cache(maxsize=512)
def _read_cached(path: Path, mtime_ns: int) -> str:
    """File contents keyed by modification time: edits (e.g. by the meta-optimizer) are seen at once."""
    return read_prompt_file(path)


# Prompt folders of tasks registered from outside the package (`TaskSpec.prompts_dir`), searched after the
# shipped `prompts/` in registration order: a task brings its own prompt files without copying them in.
_task_prompt_folders: list[Path] = []


def add_prompt_folder(folder: str | Path) -> None:
    path = Path(folder).resolve()
    if not path.is_dir():
        raise PromptError(f"prompts directory not found: {path}")
    if path not in _task_prompt_folders:
        _task_prompt_folders.append(path)


def remove_prompt_folder(folder: str | Path) -> None:
    path = Path(folder).resolve()
    if path in _task_prompt_folders:
        _task_prompt_folders.remove(path)


def prompt_folders() -> list[Path]:
    """Where a prompt is looked up when no override directory has it: the shipped folder, then tasks' own."""
    return [SHIPPED_PROMPTS_DIR, *_task_prompt_folders]


class PromptLibrary:
    """Looks a prompt up in an override directory first, then in the shipped `prompts/`, then in the prompt
    folders of tasks registered from outside the package."""

    def __init__(self, override_dir: str | Path | None = None, limits: RenderLimits | None = None) -> None:
        self.override_dir = Path(override_dir) if override_dir else None
        if self.override_dir is not None and not self.override_dir.is_dir():
            raise PromptError(f"prompts directory not found: {self.override_dir}")
        self.limits = limits or RenderLimits()

    def path(self, name: str) -> Path:
        folders = [*([self.override_dir] if self.override_dir is not None else []), *prompt_folders()]
        for folder in folders:
            if (folder / f"{name}.md").is_file():
                return folder / f"{name}.md"
        raise PromptError(f"no prompt file named {name}.md in {' or '.join(map(str, folders))}")

    def text(self, name: str) -> str:
        path = self.path(name)
        return _read_cached(path, path.stat().st_mtime_ns)

    def messages(self, name: str, **variables: Any) -> list[BaseMessage]:
        path = self.path(name)
        system, user = _compile(self.text(name), str(path))
        try:
            rendered = [render(template, variables, self.limits) for template in (system, user)]
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {path} uses an undefined variable: {exc.message}") from None
        except SecurityError as exc:
            raise UnsafePromptError(f"prompt {path} was stopped by the sandbox: {exc}") from None
        except RenderLimitError as exc:
            raise PromptLimitError(f"prompt {path}: {exc}") from None
        return [SystemMessage(rendered[0]), HumanMessage(rendered[1])]

    def check(self, names: list[str]) -> None:
        """Raise PromptError unless every named prompt file is safe to compile (nothing is rendered)."""
        for name in names:
            check_prompt_text(self.text(name), str(self.path(name)))

    def fingerprint(self, names: list[str]) -> str:
        """sha256 over the named prompt files' contents: which prompts produced a row.

        Runs start by fingerprinting their prompts, so an unsafe file fails the run here (PromptError),
        before any document is read or model called.
        """
        self.check(names)
        digest = hashlib.sha256()
        for name in sorted(names):
            digest.update(name.encode())
            digest.update(b"\0")
            digest.update(self.text(name).encode())
        return digest.hexdigest()[:16]


def prompt_names(task: str, family: str) -> list[str]:
    """Every prompt file one task's inner graph reads."""
    names = [f"challenger_{task}", f"quality_verifier_{family}", f"solver_{family}", "orchestrator"]
    if family == "rubric":
        names += ["judge_rubric", "end_filter_rubric"]
    return names

"""Prompt files: one per role and task family, Jinja2 templates with a system part and a user part.

A prompt file is markdown; the line `<!-- user -->` separates the system message (above) from the user
message template (below). Source documents are inserted only through the `document` filter, which wraps
them in delimiters and neutralises any delimiter inside, so the text is always data, never instructions.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

SHIPPED_PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
USER_MARKER = "<!-- user -->"
DOC_OPEN, DOC_CLOSE = "<source_document>", "</source_document>"


class PromptError(ValueError):
    pass


def as_document(text: str) -> str:
    """Delimit untrusted text; a delimiter inside it is defanged so it cannot close the block early."""
    safe = text.replace(DOC_CLOSE, "</source_document_>").replace(DOC_OPEN, "<source_document_>")
    return f"{DOC_OPEN}\n{safe}\n{DOC_CLOSE}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    env.filters["document"] = as_document
    return env


_ENV = _environment()


@lru_cache(maxsize=256)
def _compile(text: str) -> tuple[jinja2.Template, jinja2.Template]:
    if USER_MARKER not in text:
        raise PromptError(f"prompt file has no '{USER_MARKER}' line separating system and user parts")
    system, user = text.split(USER_MARKER, 1)
    return _ENV.from_string(system.strip()), _ENV.from_string(user.strip())


@lru_cache(maxsize=512)
def _read_cached(path: Path, mtime_ns: int) -> str:
    """File contents keyed by modification time: edits (e.g. by the meta-optimizer) are seen at once."""
    return path.read_text(encoding="utf-8")


class PromptLibrary:
    """Looks a prompt up in an override directory first, then in the shipped `prompts/`."""

    def __init__(self, override_dir: str | Path | None = None) -> None:
        self.override_dir = Path(override_dir) if override_dir else None
        if self.override_dir is not None and not self.override_dir.is_dir():
            raise PromptError(f"prompts directory not found: {self.override_dir}")

    def path(self, name: str) -> Path:
        if self.override_dir is not None and (self.override_dir / f"{name}.md").is_file():
            return self.override_dir / f"{name}.md"
        shipped = SHIPPED_PROMPTS_DIR / f"{name}.md"
        if not shipped.is_file():
            raise PromptError(f"no prompt file named {name}.md in {self.override_dir or ''} or {SHIPPED_PROMPTS_DIR}")
        return shipped

    def text(self, name: str) -> str:
        path = self.path(name)
        return _read_cached(path, path.stat().st_mtime_ns)

    def messages(self, name: str, **variables: Any) -> list[BaseMessage]:
        system, user = _compile(self.text(name))
        try:
            return [SystemMessage(system.render(**variables)), HumanMessage(user.render(**variables))]
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {name}.md uses an undefined variable: {exc.message}") from None

    def fingerprint(self, names: list[str]) -> str:
        """sha256 over the named prompt files' contents: which prompts produced a row."""
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
        names.append("judge_rubric")
    return names

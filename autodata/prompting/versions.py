"""Prompt versions of the meta-optimizer: version directories, their diffs, and the frozen-prompt guard.

A version is a directory under `RUN_DIR/versions/<id>/` holding every prompt file one task reads, plus
`diff.patch` (unified diff against its parent) and `scores.json`. `generate --prompts DIR` accepts such a
directory as it is.

Guard against reward hacking, enforced here in code rather than asked of a model: the grader stays fixed.
Which prompts one task's graph reads, and which of them may be edited, is the task's own declaration (its
`PromptScope`, built by the caller from the task registry): typically the prompts that write items and the
feedback between rounds. The solver, judge, quality-verifier, loop-judge and end-of-loop filter prompts are
frozen (an optimizer that could edit them would raise its pass rate by making the weak solver weaker, the
judge more lenient or the quality gate looser), and the acceptance policy is not a prompt file at all, so no
version can carry one: every evaluation uses the run's policy. `open_qv=True` (the `--open-qv` flag) makes
the task's quality-verifier prompts editable; every kept change to them is then listed with the rules it
removed or reworded (`qv_changes`), since loosening that gate is the easy way to a higher score. An edit to
anything else is rejected with a reason that the iteration logs, and before any version is evaluated its
frozen files are checked byte for byte against the root version.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes as jinja_nodes

from autodata.meta.copy_guard import CopyGuard
from autodata.prompting.library import (
    SHIPPED_PROMPTS_DIR,
    USER_MARKER,
    PromptError,
    PromptLibrary,
    UnsafePromptError,
    check_prompt_text,
    read_prompt_file,
    split_prompt,
)
from autodata.prompting.sandbox import RenderLimits
from autodata.state.meta import QvChange, RejectedEdit

logger = logging.getLogger(__name__)

QV_PATTERN = "quality_verifier_*"
FROZEN_WORDS = ("solver", "judge", "policy", "weak", "strong", "filter", "quality_verifier")
VERSIONS_DIR = "versions"
ROOT_ID = "v0000"
DIFF_FILE = "diff.patch"
SCORES_FILE = "scores.json"
MAX_PROMPT_CHARS = 20_000
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_DOCUMENT_FILTER = re.compile(r"\|\s*document\b")
# The sample render of a proposed file: a shipped prompt renders its samples in milliseconds.
CHECK_LIMITS = RenderLimits(seconds=2.0, max_chars=200_000)

# Parses (never compiles or renders) a proposed template to list the names it reads.
_PARSER = jinja2.Environment()
# prompt name -> the variable sets its node passes (one dict per branch worth rendering); [] when none are known.
RenderSamples = Callable[[str], list[dict[str, Any]]]


def no_render_samples(name: str) -> list[dict[str, Any]]:
    return []


class FrozenPromptError(RuntimeError):
    """A version's frozen prompt file differs from the root's: it must never be evaluated."""


def version_id(iteration: int) -> str:
    return f"v{iteration:04d}"


def is_quality_verifier(name: str) -> bool:
    return fnmatch.fnmatchcase(name, QV_PATTERN)


@dataclass(frozen=True)
class PromptScope:
    """The prompt files one task's graph reads: those the meta-optimizer may edit and the frozen rest.

    `render_samples` gives, per editable prompt, the variables its node passes, so an edited file is rendered
    once before it becomes a version; `open_qv` moves the quality-verifier prompts to the editable side.
    """

    task: str
    editable: tuple[str, ...]
    frozen: tuple[str, ...]
    render_samples: RenderSamples = no_render_samples
    open_qv: bool = False

    @property
    def names(self) -> list[str]:
        """Every prompt file the task's graph reads: a version holds all of them."""
        return [*self.editable, *self.frozen]

    def editable_names(self) -> list[str]:
        opened = [name for name in self.frozen if self.open_qv and is_quality_verifier(name)]
        return [*self.editable, *opened]

    def frozen_names(self) -> list[str]:
        return [name for name in self.frozen if name not in self.editable_names()]

    def is_frozen(self, name: str) -> bool:
        """One of the task's frozen prompts, or anything named like the solvers, judge, filter or policy."""
        return name in self.frozen_names() or (
            name not in self.editable_names() and any(word in name for word in FROZEN_WORDS)
        )


def _frozen_reason(name: str) -> str:
    if is_quality_verifier(name):
        return "frozen: the quality verifier is part of the grader; only --open-qv makes it editable"
    return "frozen: solver, judge and end-of-loop filter prompts and the acceptance policy cannot be edited"


def prompt_name(raw: str) -> str | None:
    """`writer_legal.md` or `writer_legal` -> `writer_legal`; anything path-like -> None."""
    name = raw.strip()
    name = name[: -len(".md")] if name.endswith(".md") else name
    return name if _NAME.fullmatch(name) else None


@dataclass
class GuardDecision:
    accepted: dict[str, str] = field(default_factory=dict)
    rejected: list[RejectedEdit] = field(default_factory=list)

    def reject(self, file: str, reason: str) -> None:
        logger.warning("prompt edit rejected: %s: %s", file, reason)
        self.rejected.append(RejectedEdit(file=file, reason=reason))


def guard_edits(scope: PromptScope, edits: Iterable[tuple[str, str]]) -> GuardDecision:
    """Split proposed (file, content) edits into the allowed ones and the rejected ones, with reasons."""
    decision = GuardDecision()
    allowed = scope.editable_names()
    for raw_name, content in edits:
        name = prompt_name(raw_name)
        if name is None:
            decision.reject(raw_name, "not a prompt file name (plain names like writer_legal.md only)")
        elif scope.is_frozen(name):
            decision.reject(raw_name, _frozen_reason(name))
        elif name not in allowed and (SHIPPED_PROMPTS_DIR / f"{name}.md").is_file():
            decision.reject(raw_name, f"not a prompt the {scope.task} task may edit; editable: {', '.join(allowed)}")
        elif name not in allowed:
            decision.reject(raw_name, f"no such prompt file; editable: {', '.join(allowed)}")
        elif name in decision.accepted:
            decision.reject(raw_name, "edited twice in one proposal; the first edit is kept")
        else:
            decision.accepted[name] = content
    return decision


def template_variables(text: str) -> set[str]:
    """The names a prompt file's template reads from its caller (its system and user parts together): every
    name it loads, less its loop variables and Jinja's own `loop`."""
    loaded: set[str] = set()
    bound = {"loop"}
    for part in split_prompt(text, "prompt"):
        for name in _PARSER.parse(part).find_all(jinja_nodes.Name):
            (loaded if name.ctx == "load" else bound).add(name.name)
    return loaded - bound


def template_problems(
    directory: Path, name: str, parent_text: str, render_samples: RenderSamples = no_render_samples
) -> list[str]:
    """Why the prompt file `name` in `directory` cannot replace the parent's; empty when it can.

    The file is untrusted (a model wrote it). It is checked statically first and never rendered when the
    check fails; it may read only variables the parent reads or the task's samples for it hold (its node
    passes no other). A file that passes renders those samples (`render_samples`) in the sandbox under
    CHECK_LIMITS (2 s, 200k characters), so even a rule gap cannot hang or flood the optimizer. Any failure
    rejects the file: the verdict is a value, never an exception, so a hostile file cannot stop the
    optimizer (or a resumed run that replays the check).
    """
    try:
        return _template_problems(directory, name, parent_text, render_samples)
    except RecursionError:  # the shape limits make this unreachable; kept so no nesting can crash a run
        return ["nested too deeply to check"]


def _template_problems(directory: Path, name: str, parent_text: str, render_samples: RenderSamples) -> list[str]:
    text = (directory / f"{name}.md").read_text(encoding="utf-8")
    if len(text) > MAX_PROMPT_CHARS:
        return [f"longer than {MAX_PROMPT_CHARS} characters"]
    if USER_MARKER not in text:
        return [f"the '{USER_MARKER}' line separating system and user parts is missing"]
    if _DOCUMENT_FILTER.search(parent_text) and not _DOCUMENT_FILTER.search(text):
        return ["source text must stay delimited with the `| document` filter"]
    try:
        check_prompt_text(text, f"{name}.md")
    except UnsafePromptError as exc:
        return [str(exc)]
    except PromptError as exc:
        return [f"does not render: {exc}"]
    # Any name beyond what the parent reads and the samples hold would be undefined on every real render.
    samples = render_samples(name)
    passed = template_variables(parent_text) | {key for variables in samples for key in variables}
    unknown = sorted(template_variables(text) - passed)
    if unknown:
        return [f"does not render: uses variables its node does not pass: {', '.join(unknown)}"]
    library = PromptLibrary(directory, limits=CHECK_LIMITS)
    for variables in samples:
        try:
            library.messages(name, **variables)
        except Exception as exc:  # noqa: BLE001 - whatever a proposed template raises, it is rejected
            return [f"does not render: {exc}"]
    return []


def unified_diff(parent: dict[str, str], child: dict[str, str], parent_id: str, child_id: str) -> str:
    chunks = []
    for name in sorted(set(parent) | set(child)):
        before, after = parent.get(name, ""), child.get(name, "")
        if before != after:
            chunks.extend(
                difflib.unified_diff(
                    before.splitlines(keepends=True), after.splitlines(keepends=True),
                    fromfile=f"a/{parent_id}/{name}.md", tofile=f"b/{child_id}/{name}.md",
                )
            )  # fmt: skip
            if chunks and not chunks[-1].endswith("\n"):
                chunks[-1] += "\n\\ No newline at end of file\n"
    return "".join(chunks)


def qv_changes(parent: dict[str, str], child: dict[str, str]) -> list[QvChange]:
    """Every quality-verifier file that differs between parent and child, with its removed and added lines.

    Whether a reworded rule is looser is a judgment no string test makes reliably, so every change is listed
    and the removed lines (the checks that are gone or reworded) are what the report shows first.
    """
    changes = []
    for name in sorted(set(parent) | set(child)):
        before, after = parent.get(name, ""), child.get(name, "")
        if not is_quality_verifier(name) or before == after:
            continue
        diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
        removed = [line[2:] for line in diff if line.startswith("- ") and line[2:].strip()]
        added = [line[2:] for line in diff if line.startswith("+ ") and line[2:].strip()]
        changes.append(QvChange(file=f"{name}.md", removed=removed, added=added))
    return changes


@dataclass
class ChildDraft:
    path: Path | None
    files_changed: list[str]
    rejected: list[RejectedEdit]


class VersionStore:
    """The `versions/` directory of one optimization run."""

    def __init__(self, root: str | Path, scope: PromptScope) -> None:
        self.root = Path(root)
        self.scope = scope
        self.names = scope.names

    def path(self, version: str) -> Path:
        return self.root / version

    def files(self, version: str) -> dict[str, str]:
        return {name: (self.path(version) / f"{name}.md").read_text(encoding="utf-8") for name in self.names}

    def _write_files(self, directory: Path, files: dict[str, str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / f"{name}.md").write_text(text, encoding="utf-8")

    def _publish(self, staging: Path, version: str) -> Path:
        """Move a finished staging directory into place (replacing a half-written one from a crash)."""
        target = self.path(version)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        return target

    def create_root(self, base_dir: str | None = None) -> Path:
        """The root version: the prompts `generate --prompts base_dir` would use, frozen files included."""
        base = PromptLibrary(base_dir)
        base.check(self.names)
        files = {name: base.text(name) for name in self.names}
        shipped = PromptLibrary(None)
        staging = self.root / f".staging-{ROOT_ID}"
        shutil.rmtree(staging, ignore_errors=True)
        self._write_files(staging, files)
        diff = unified_diff({name: shipped.text(name) for name in self.names}, files, "shipped", ROOT_ID)
        (staging / DIFF_FILE).write_text(diff, encoding="utf-8")
        return self._publish(staging, ROOT_ID)

    def create_child(
        self, parent: str, child: str, edits: Iterable[tuple[str, str]], copy_guard: CopyGuard | None = None
    ) -> ChildDraft:
        """Apply guarded, validated edits to a copy of the parent; no directory when no edit survives.

        `copy_guard` rejects an edit that carries a long verbatim span of a validation or test document.
        """
        edits = list(edits)
        decision = guard_edits(self.scope, edits)
        rejected = list(decision.rejected)
        if not edits:
            rejected.append(RejectedEdit(file="(none)", reason="the implementer proposed no file edits"))
        parent_files = self.files(parent)
        child_files = dict(parent_files)
        staging = self.root / f".staging-{child}"
        shutil.rmtree(staging, ignore_errors=True)
        self._write_files(staging, child_files)
        for name, text in decision.accepted.items():
            if text.strip() == parent_files[name].strip():
                rejected.append(RejectedEdit(file=name, reason="unchanged from the parent"))
                continue
            copied = copy_guard.find_copy(text, parent_files[name]) if copy_guard else None
            if copied is not None:
                rejected.append(RejectedEdit(file=name, reason=copied.reason()))
                logger.warning("prompt edit rejected: %s: %s", name, copied.reason())
                continue
            self._write_files(staging, {name: text})
            problems = template_problems(staging, name, parent_files[name], self.scope.render_samples)
            if problems:
                self._write_files(staging, {name: parent_files[name]})
                rejected.append(RejectedEdit(file=name, reason="; ".join(problems)))
                logger.warning("prompt edit rejected: %s: %s", name, "; ".join(problems))
                continue
            child_files[name] = text
        changed = [f"{name}.md" for name in self.names if child_files[name] != parent_files[name]]
        if not changed:
            shutil.rmtree(staging)
            return ChildDraft(path=None, files_changed=[], rejected=rejected)
        (staging / DIFF_FILE).write_text(unified_diff(parent_files, child_files, parent, child), encoding="utf-8")
        return ChildDraft(path=self._publish(staging, child), files_changed=changed, rejected=rejected)

    def assert_frozen_intact(self, version: str) -> None:
        """Raise FrozenPromptError if any frozen prompt of `version` differs from the root's."""
        for name in self.scope.frozen_names():
            ours = (self.path(version) / f"{name}.md").read_bytes()
            if ours != (self.path(ROOT_ID) / f"{name}.md").read_bytes():
                raise FrozenPromptError(f"{version}/{name}.md differs from the root version; frozen prompts cannot change")


def promote(version_dir: str | Path, target: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy a version's prompt files to `target`, a directory that `generate --prompts` accepts."""
    source, target = Path(version_dir), Path(target)
    files = sorted(source.glob("*.md"))
    if not files:
        raise PromptError(f"no prompt files in {source}")
    for file in files:  # a version written before the sandbox existed may hold an unsafe file
        check_prompt_text(read_prompt_file(file), str(file))
    target.mkdir(parents=True, exist_ok=True)
    clashes = [f.name for f in files if (target / f.name).exists() and (target / f.name).read_bytes() != f.read_bytes()]
    if clashes and not overwrite:
        raise PromptError(f"{target} already has different {', '.join(clashes)}; pass --force to overwrite")
    copied = []
    for file in files:
        shutil.copyfile(file, target / file.name)
        copied.append(target / file.name)
    return copied

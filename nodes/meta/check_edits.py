"""Validate: the implementer's edits go through the frozen-prompt guard, the copy guard (no long spans of
validation or test documents) and a render check; the survivors become the child version's directory (with
its diff against the parent). No surviving edit, no child, and no evaluation is spent."""

from __future__ import annotations

from typing import Any

from autodata.nodes.meta.common import MetaServices, copy_guard, meta_context, version_store
from autodata.prompting.versions import version_id
from autodata.state.meta import IterationState, PromptVersion


async def validate_edits(state: IterationState, runtime: Any, *, services: MetaServices) -> dict[str, Any]:
    ctx = meta_context(runtime)
    child_id = version_id(state.iteration)
    edits = [(edit.file, edit.content) for edit in state.rewrite.edits]
    draft = version_store(ctx, services).create_child(state.parent, child_id, edits, copy_guard(ctx, services))
    if draft.path is None:
        return {"rejected_edits": draft.rejected}
    child = PromptVersion(
        id=child_id, parent=state.parent, iteration=state.iteration, path=str(draft.path),
        files_changed=draft.files_changed, status="candidate",
    )  # fmt: skip
    return {"child": child, "rejected_edits": draft.rejected}

"""Sample variables for the science prompts the meta-optimizer may edit: an edited file is rendered with them
before it becomes a version."""

from __future__ import annotations

from typing import Any

from autodata.meta.render_samples import sample_document


def science_samples(name: str) -> list[dict[str, Any]]:
    """The science graph: nodes/science/challenger.py (the other editable prompts rely on the variable check)."""
    if name == "challenger_science":
        base = {"document": sample_document(), "strategy": "a two-step derivation", "max_rounds": 3}
        first = {"grounding": [], "diagnosis": "", "earlier_questions": [], "round": 1}
        later = {"grounding": ["Q: 2+2? A: 4"], "diagnosis": "Too easy.", "earlier_questions": ["Why?"], "round": 2}
        return [{**base, **first}, {**base, **later}]
    return []

"""What a person's review of an item leaves in the state and in the item's row (nodes/shared/review.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ReviewVerdict = Literal["approve", "edit", "reject"]


class ReviewRecord(BaseModel):
    """One reviewer decision on one round's item."""

    round: int = 0
    decision: ReviewVerdict
    reviewer: str = ""
    at: str = Field("", description="ISO time of the decision.")
    edited_fields: list[str] = Field(default_factory=list)
    reason: str = Field("", description="Why the item was rejected.")
    needs_rescore: bool = Field(
        False, description="An edited answer or rubric: the edited item was scored again (as the next round)."
    )

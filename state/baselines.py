"""Typed state of the baseline graphs (CoT-Self-Instruct and Self-Instruct).

A baseline run is one pass per document: generate an item, optionally filter it by answer consistency,
score it once with the same solvers, judge and verifier as the agentic loop, and record whether it meets
the acceptance policy. The state extends the inner graph's state so the shared nodes (solvers, scorers,
quality verifier) run on it unchanged.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from pydantic import BaseModel, Field, create_model

from autodata.state.context import RunContext
from autodata.state.schemas import SolverAttempt
from autodata.state.self_instruct import SelfInstructState

Method = Literal["cot-self-instruct", "self-instruct"]
METHODS: tuple[str, ...] = ("cot-self-instruct", "self-instruct")

# kept: the item is part of the baseline dataset (whether or not it meets the policy);
# dropped: the answer-consistency filter removed it; filtered: the end-of-loop filter removed it (rubric tasks);
# no_item: the generator produced nothing usable.
BaselineStatus = Literal["running", "kept", "dropped", "filtered", "no_item"]


class BaselineContext(RunContext):
    """The inner graph's run context plus the answer-consistency filter's sample count."""

    consistency_samples: int = Field(
        4, ge=1, le=32, description="CoT-Self-Instruct, verifiable tasks: strong-solver samples whose majority "
        "answer must agree with the generated answer (answer-consistency filter)."
    )


class ConsistencyCheck(BaseModel):
    """The answer-consistency filter's verdict on one generated item."""

    samples: int = Field(description="Strong-solver samples drawn.")
    majority_answer: str | None = Field(description="Most common final answer up to equivalence, None if none.")
    majority_votes: int = Field(description="How many samples gave the majority answer.")
    self_consistent: bool = Field(
        True, description="The majority answer holds at least half of the samples (self-consistency, METHOD.md 6)."
    )
    agrees: bool = Field(
        description="Self-consistent, and the majority answer is equivalent to the generated reference answer."
    )


class BaselineState(SelfInstructState):
    method: Method = Field("self-instruct", description="Which baseline produced the item.")
    reasoning: str = Field("", description="CoT-Self-Instruct: the generator's step-by-step reasoning.")
    consistency_attempts: Annotated[list[SolverAttempt], operator.add] = Field(
        default_factory=list, description="Strong-solver samples drawn for the answer-consistency filter."
    )
    consistency: ConsistencyCheck | None = None
    status: BaselineStatus = "running"  # type: ignore[assignment]  # wider than the inner graph's statuses
    meets_policy: bool = Field(False, description="The kept item passes quality check, weak and strong checks.")


def with_reasoning_first(schema: type[BaseModel]) -> type[BaseModel]:
    """`schema` with a `reasoning` field placed first, so the model reasons before it writes the item."""
    fields = {name: (info.annotation, info) for name, info in schema.model_fields.items()}
    return create_model(
        f"Reasoned{schema.__name__}",
        __doc__=f"Step-by-step reasoning about the source, then: {schema.__doc__ or schema.__name__}",
        reasoning=(str, Field(description="Think step by step about the source before writing the item.")),
        **fields,
    )

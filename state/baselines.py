"""Typed state of the baseline graphs (CoT-Self-Instruct and Self-Instruct).

A baseline run is one pass per document: generate an item, optionally filter it by answer consistency,
pass it through the checks its task's arrangement names, score it once with the same solvers, judge and
verifier as the task's agentic set, and record whether it meets the acceptance policy. The state extends the
inner graph's state so the shared nodes (solvers, scorers, quality verifier) run on it unchanged.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from autodata.state.context import RunContext, label_field
from autodata.state.legal import LegalShapeRules
from autodata.state.schemas import SolverAttempt
from autodata.state.self_instruct import SelfInstructState

Method = Literal["cot-self-instruct", "self-instruct"]
METHODS: tuple[str, ...] = ("cot-self-instruct", "self-instruct")

# kept: the item is part of the baseline dataset (whether or not it meets the policy; the RIP filter, a
# post-pass over the whole run, may still drop it: rip_dropped.jsonl);
# dropped: the answer-consistency filter removed it; filtered: the end-of-loop filter or the question post-filter
# removed it;
# no_item: the generator produced nothing usable.
BaselineStatus = Literal["running", "kept", "dropped", "filtered", "no_item"]


class BaselineArrangement(BaseModel):
    """How a baseline's items are filtered and answered, so that a baseline set and its task's agentic set
    pass the same checks and are scored the same way (METHOD.md sections 6-7). The task registry declares one
    per task; the defaults are the CS research loop's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quality_verifier: bool = Field(
        True, description="Run the in-loop quality verifier (code format rules, then quality_verifier_<family>); "
        "its verdict counts toward meets_policy but removes nothing."
    )
    end_filter: bool = Field(
        True, description="Run the end-of-loop filter (rubric items; end_filter_rubric): a rejected item is not kept."
    )
    question_post_filter: LegalShapeRules | None = Field(
        None, description="The legal post-filter in code (METHOD.md section 3.5, layer 1) with these limits: a "
        "question it flags is not kept. Unset: none."
    )
    solver_prompt: str | None = Field(
        None, description="Prompt of the solvers that score the item (and of the consistency samples); unset: "
        "solver_<family>."
    )


class BaselineContext(RunContext):
    """The inner graph's run context plus the task's baseline arrangement and the answer-consistency filter's
    sample count."""

    arrangement: BaselineArrangement = Field(
        default_factory=BaselineArrangement, description="Which checks filter the item and which solver prompt "
        "scores it (the task's; unset: the CS research loop's)."
    )

    consistency_samples: int = Field(
        4, ge=1, le=32, description="CoT-Self-Instruct, verifiable tasks: strong-solver samples whose majority "
        "answer must agree with the generated answer (answer-consistency filter)."
    )
    rip_fraction: float = Field(
        0.25, ge=0.0, lt=1.0, description="CoT-Self-Instruct, rubric tasks: the RIP filter drops this share of the "
        "kept items, those whose lowest strong-solver rubric score is lowest, once the batch is done "
        "(autodata/engine/rip_filter.py); 0 turns it off."
    )
    review: bool = Field(
        False, description="Always off: a baseline is the one-pass comparison arm, it has no loop to pause or to "
        "send a rejection back to (review the agentic task's items instead)."
    )

    @field_validator("review")
    @classmethod
    def _baselines_are_not_reviewed(cls, review: bool) -> bool:
        if review:
            raise ValueError("the baseline graphs do not pause for review: they make one pass and have no loop to "
                             "send a rejection back to; review the agentic graphs' items instead")
        return review

    # The generator's prompt describes the task with it; its wording is the registry's, not a data setting.
    task_description: str = label_field("", "What the task's items are (the task registry's description).")


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

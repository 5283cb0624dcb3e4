"""Typed state and schemas shared by nodes and graphs."""

from state.context import RunContext
from state.graph_state import SelfInstructState, SolveTask
from state.policy import AcceptancePolicy
from state.schemas import (
    AttemptScore,
    CandidateItem,
    FeedbackCategory,
    FeedbackEntry,
    QualityVerdict,
    RoleUsage,
    RoundOutcome,
    RoundRecord,
    RubricCriterion,
    SolverAttempt,
    SourceDocument,
    TaskFamily,
)

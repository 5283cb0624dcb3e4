"""Errors the training commands turn into one clear line for the user."""

from __future__ import annotations


class TrainingSetupError(RuntimeError):
    """Training or evaluation cannot start: bad input, missing extra, unknown recipe. The message says why."""


class JudgeFailure(RuntimeError):
    """The judge could not grade a completion, even after the model layer's retries."""

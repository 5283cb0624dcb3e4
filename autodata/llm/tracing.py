"""What LangSmith receives when tracing is on: model calls whole, graph-node runs compact.

LangGraph traces every node (and every routing function and `Send`) with the whole state as its inputs: the
source document and the history of every round, tens of copies of the paper per round. The model-call runs
are what a person debugging a prompt needs, and they keep their full prompts and replies. Every other run's
inputs and outputs go through `compact` in the LangSmith client's own `hide_inputs` / `hide_outputs` hooks
(the state itself is never changed):

- the source document becomes a reference: its id, path, title, sha256, span and length, not its text;
- a node's inputs keep the entries of the current round from the lists that accumulate round records
  (attempts, scores, feedback, rounds: lists whose every entry has a `round`), and say how many earlier
  ones were left out;
- a `Send` becomes the node it goes to and its (compacted) payload instead of its repr;
- any other string longer than `MAX_TEXT_CHARS` keeps its head and names its length and hash.

`install` puts a client with these hooks in place of the default one (when tracing is on; it also sends a
run's inputs only with its creation, not again with its update), `flush` waits for its queue to drain
before the process exits. Model-call runs are named by step (`challenger`, `weak_solver[2]`,
`judge[strong 0]`): `model_run_name`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 3000  # a node run's strings up to this long are kept whole (an item's context, an answer)
TEXT_HEAD_CHARS = 1000  # what is kept of a longer one
FLUSH_TIMEOUT_S = 30.0

# The node that makes each role's call, where the two differ (runs are named after the step, not the model).
STEP_OF_ROLE = {"weak": "weak_solver", "strong": "strong_solver"}

_installed: Any = None  # the langsmith Client `install` put in place


def model_run_name(role: str, metadata: Mapping[str, Any] | None) -> str:
    """A model call's run name: its step, with the sample (or candidate) it is about."""
    metadata = metadata or {}
    step = STEP_OF_ROLE.get(role, role)
    index = metadata.get("sample", metadata.get("candidate"))
    if index is None:
        return step
    graded = metadata.get("graded")
    return f"{step}[{graded} {index}]" if graded else f"{step}[{index}]"


def document_reference(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a node run says about the source document: enough to find it, not its text."""
    text = doc.get("text") or ""
    return {
        "doc_id": doc.get("doc_id"),
        "path": doc.get("path"),
        "title": doc.get("title"),
        "sha256": doc.get("content_hash"),
        "span": doc.get("span"),
        "total_chars": doc.get("total_chars"),
        "chars": len(text),
    }


def _is_document(value: Mapping[str, Any]) -> bool:
    return "text" in value and "doc_id" in value and "content_hash" in value


def _short_text(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{text[:TEXT_HEAD_CHARS]} [... {len(text):,} chars in all, sha256 {digest}...]"


def _fields(model: BaseModel) -> dict[str, Any]:
    """A model's fields, shallow (each value is compacted on its own)."""
    return {name: getattr(model, name, None) for name in type(model).model_fields}


def _entry_round(entry: Any) -> Any:
    return entry.get("round") if isinstance(entry, Mapping) else getattr(entry, "round", None)


def _this_round_only(mapping: dict[str, Any]) -> dict[str, Any]:
    """The round lists of a state holding `round`, cut to that round's entries; what was cut is counted."""
    current = mapping.get("round")
    if not isinstance(current, int):
        return mapping
    left_out: dict[str, int] = {}
    kept = dict(mapping)
    for key, entries in mapping.items():
        if not isinstance(entries, (list, tuple)) or not entries:
            continue
        rounds = [_entry_round(entry) for entry in entries]
        if any(not isinstance(r, int) for r in rounds):
            continue
        kept[key] = [entry for entry, r in zip(entries, rounds) if r == current]
        if len(kept[key]) < len(entries):
            left_out[key] = len(entries) - len(kept[key])
    if left_out:
        kept["earlier_rounds_left_out"] = left_out
    return kept


def compact(value: Any, *, this_round: bool = False) -> Any:
    """`value` as a node run shows it (see the module docstring); new containers, the original untouched."""
    from langgraph.types import Send

    if isinstance(value, str):
        return _short_text(value)
    if isinstance(value, Send):
        return {"send": value.node, "arg": compact(value.arg, this_round=this_round)}
    if isinstance(value, BaseModel):
        value = _fields(value)
    if isinstance(value, Mapping):
        if _is_document(value):
            return document_reference(value)
        mapping = {str(key): item for key, item in value.items()}
        if this_round:
            mapping = _this_round_only(mapping)
        return {key: compact(item, this_round=this_round) for key, item in mapping.items()}
    if isinstance(value, (list, tuple)):
        return [compact(item, this_round=this_round) for item in value]
    return value


def _is_model_call(data: Mapping[str, Any]) -> bool:
    """A chat-model run's inputs (`messages`, or `prompts` for a completion model) or outputs (`generations`)."""
    return bool(data) and (set(data) <= {"messages", "prompts"} or "generations" in data)


def hide_inputs(inputs: dict) -> dict:
    """The LangSmith client's `hide_inputs` hook: model calls whole, other runs compact (this round only)."""
    if _is_model_call(inputs):
        return inputs
    try:
        return compact(inputs, this_round=True)
    except Exception:  # noqa: BLE001 - a trace must never stop a run; send a placeholder instead
        logger.debug("could not compact a run's inputs", exc_info=True)
        return {"compacted": "left out (could not be compacted)"}


def hide_outputs(outputs: dict) -> dict:
    """The LangSmith client's `hide_outputs` hook: model calls whole, other runs compact (all they wrote)."""
    if _is_model_call(outputs):
        return outputs
    try:
        return compact(outputs)
    except Exception:  # noqa: BLE001
        logger.debug("could not compact a run's outputs", exc_info=True)
        return {"compacted": "left out (could not be compacted)"}


def tracing_enabled() -> bool:
    try:
        from langsmith import utils
    except ImportError:
        return False
    return bool(utils.tracing_is_enabled())


def _compacting_client() -> Any:
    """A LangSmith client with the hooks above that sends each run's inputs once.

    LangChain's tracer sends a run's inputs again with its update (when it ends). When the create and the
    update travel in one batch the client merges them; a model call that outlasts the batch interval (most do)
    would send its whole prompt twice. A run created with its inputs is updated without them."""
    from langsmith import Client

    class CompactingClient(Client):
        def __init__(self) -> None:
            super().__init__(hide_inputs=hide_inputs, hide_outputs=hide_outputs)
            self._sent_inputs: set[str] = set()  # runs created with their inputs and not yet updated
            self._sent_lock = threading.Lock()

        def create_run(self, name: str, inputs: dict[str, Any], run_type: Any, **kwargs: Any) -> None:
            if inputs and kwargs.get("id") is not None:
                with self._sent_lock:
                    self._sent_inputs.add(str(kwargs["id"]))
            super().create_run(name, inputs, run_type, **kwargs)

        def update_run(self, run_id: Any, *, inputs: dict | None = None, **kwargs: Any) -> None:
            with self._sent_lock:
                if str(run_id) in self._sent_inputs:
                    self._sent_inputs.discard(str(run_id))
                    inputs = None
            super().update_run(run_id, inputs=inputs, **kwargs)

    return CompactingClient()


def install() -> Any:
    """When tracing is on, put a client with the hooks above in place of the one every tracer uses (once per
    process). Returns it, or None when tracing is off."""
    global _installed
    if _installed is None and tracing_enabled():
        from langsmith.run_trees import configure

        _installed = _compacting_client()
        configure(client=_installed)
    return _installed


def flush(timeout: float = FLUSH_TIMEOUT_S) -> None:
    """Send what the installed client still holds (before the process exits; bounded by `timeout`)."""
    if _installed is None:
        return
    try:
        _installed.flush(timeout=timeout)
    except Exception:  # noqa: BLE001 - an unreachable LangSmith must not fail a finished run
        logger.warning("could not send every trace to LangSmith before exit", exc_info=True)

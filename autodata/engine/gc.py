"""Garbage-collector settings for a batch of documents: no stop-the-world pauses in the middle of it.

CPython's cyclic collector walks every tracked object of a generation; with LangGraph, LangChain and
pydantic imported a process holds ~200k of them before the first document, and a run in flight creates
many more. Measured in benchmarks/throughput.py (C=32, L=100 ms, 512 documents): 22 full collections
took 3.9 s of a 35 s run, up to 263 ms each, and while one ran every response that had arrived waited, so
the endpoint's request slots sat idle (mean slot hold 113 ms for a 101 ms round trip; 0.85 of the limit).

So for the length of a batch: what exists before it starts (modules, the compiled graph, prompt templates,
schemas) is moved to the permanent generation (`gc.freeze`), which collections skip, and the youngest
generation is collected after 50,000 net allocations instead of 700. Short-lived objects are still freed by
reference counting at once; only cyclic garbage waits a little longer. The oldest generation is still
collected after every 10 collections of the middle one, as by default: with a rarer full collection (100),
the cycles of documents that were in flight during a young collection piled up there and memory grew with
the corpus (benchmarks/memory.py); at 10 it is a sawtooth of ~15 MB. Everything is put back afterwards.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

BATCH_THRESHOLDS = (50_000, 20, 10)
_depth = 0  # batches can nest (the meta-optimizer runs generation jobs): only the outermost one acts


@contextlib.contextmanager
def batch_garbage_collection() -> Iterator[None]:
    global _depth
    _depth += 1
    if _depth > 1:
        try:
            yield
        finally:
            _depth -= 1
        return
    previous = gc.get_threshold()
    # No full collection first: it would cost a few hundred ms. Garbage frozen with the rest is released
    # by `unfreeze` at the end.
    gc.freeze()
    gc.set_threshold(*BATCH_THRESHOLDS)
    try:
        yield
    finally:
        _depth -= 1
        gc.set_threshold(*previous)
        gc.unfreeze()

"""The copy guard: a prompt carrying a long verbatim span of a validation or test document is rejected."""

from __future__ import annotations

import hashlib

from autodata.meta.copy_guard import CopyGuard, GuardedDocument


def prose(seed: str, chars: int) -> str:
    words, counter = [], 0
    while sum(len(w) + 1 for w in words) < chars:
        words.append(hashlib.sha256(f"{seed}{counter}".encode()).hexdigest()[: 3 + counter % 6])
        counter += 1
    return " ".join(words)


VALIDATION = prose("validation", 3_000)
TEST = prose("test", 3_000)
PROMPT = "You write hard questions.\n<!-- user -->\n{{ document.text | document }}\n"
GUARD = CopyGuard([GuardedDocument("validation", "val-1", VALIDATION), GuardedDocument("test", "test-1", TEST)])


def test_a_200_character_span_of_a_validation_document_is_rejected_with_the_reason():
    copied = VALIDATION[1_001:1_201]
    found = GUARD.find_copy(PROMPT + "Good example question:\n" + copied + "\n", parent=PROMPT)
    assert found is not None and found.doc_id == "val-1" and found.length >= 200
    reason = found.reason()
    assert "validation document 'val-1'" in reason and f"{found.length} characters verbatim" in reason


def test_rewrapped_test_document_text_is_still_caught():
    copied = TEST[500:800].replace(" ", "\n", 5)
    found = GUARD.find_copy(PROMPT + copied)
    assert found is not None and found.split == "test"


def test_shorter_spans_and_spans_the_parent_already_had_pass():
    assert GUARD.find_copy(PROMPT + VALIDATION[1_000:1_190]) is None
    inherited = PROMPT + VALIDATION[:400]
    assert GUARD.find_copy(inherited + "\nBe precise.", parent=inherited) is None
    assert GUARD.find_copy(PROMPT) is None


def test_the_span_length_is_configurable():
    strict = CopyGuard([GuardedDocument("validation", "val-1", VALIDATION)], min_chars=50)
    assert strict.find_copy(PROMPT + VALIDATION[10:70]) is not None
    assert strict.find_copy(PROMPT + VALIDATION[10:55]) is None

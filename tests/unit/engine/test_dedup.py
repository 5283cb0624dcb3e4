"""Near-duplicate lookup: exact word-3-gram Jaccard, the same answers as comparing against every kept question."""

import random

import pytest

from autodata.engine.dedup import NearDuplicateIndex, jaccard, shingles


def brute_force(kept: list[tuple[str, str]], question: str, threshold: float) -> str | None:
    candidate = shingles(question)
    return next((i for i, q in kept if jaccard(candidate, shingles(q)) >= threshold), None)


def random_questions(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    common = "what is the effect of a model on how why does".split()
    rare = [f"term{i}" for i in range(40)]
    base = [" ".join(rng.choice(common + rare) for _ in range(rng.randint(1, 14))) for _ in range(n // 3)]
    questions = []
    for _ in range(n):
        words = rng.choice(base).split()
        for _ in range(rng.randint(0, 3)):  # small edits make near duplicates of every degree
            words.insert(rng.randint(0, len(words)), rng.choice(common + rare))
        questions.append(" ".join(words) + rng.choice(["?", "", "!"]))
    return questions + ["", "?", "Why?"]


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_index_answers_exactly_like_a_scan_of_every_kept_question(seed, threshold):
    index, kept = NearDuplicateIndex(threshold=threshold), []
    duplicates = 0
    for number, question in enumerate(random_questions(seed, 300)):
        expected = brute_force(kept, question, threshold)
        assert index.duplicate_of(question) == expected, question
        if expected is None:
            index.add(f"q{number}", question)
            kept.append((f"q{number}", question))
        else:
            duplicates += 1
    assert duplicates > 10  # the data exercised both answers


def test_the_earliest_kept_question_wins_and_empty_questions_match_each_other():
    index = NearDuplicateIndex()
    index.add("first", "How does dropout change the effective capacity of a network?")
    index.add("second", "How does dropout change the effective capacity of a deep network?")
    assert index.duplicate_of("How does dropout change the effective capacity of a network?") == "first"
    assert index.duplicate_of("") is None
    index.add("blank", "")
    assert index.duplicate_of("?!") == "blank"
    assert index.duplicate_of("Something else entirely, about weight decay and its schedule") is None

"""The optimizer's memory: what each iteration tried, capped in length, persisted in the run directory."""

from __future__ import annotations

from autodata.meta.memory import EMPTY_MEMORY, MEMORY_JSON, MEMORY_MD, MemoryEntry, MetaMemory, render_memory


def entry(iteration: int, status: str = "discarded", description: str = "Ask for multi-step reasoning.") -> MemoryEntry:
    return MemoryEntry(
        iteration=iteration, parent="v0000", child=f"v{iteration:04d}", status=status,
        files=["challenger_cs-research.md"], description=description, minibatch_parent=0.25, minibatch_child=0.5,
        validation_parent=0.4, validation_child=0.6 if status == "kept" else 0.4,
    )  # fmt: skip


def test_an_entry_names_the_change_its_result_and_the_decision():
    text = render_memory([entry(1, "kept")])
    assert "iteration 1 (v0000 -> v0001): KEPT" in text
    assert "challenger_cs-research.md: Ask for multi-step reasoning." in text
    assert "screen on the parent's failed documents 0.25 -> 0.50; validation 0.40 -> 0.60" in text
    assert render_memory([]) == EMPTY_MEMORY


def test_the_cap_compresses_the_oldest_entries_first():
    entries = [entry(i, description=f"Change number {i}: " + "detail " * 30) for i in range(1, 41)]
    text = render_memory(entries, max_chars=2_000)
    assert len(text) <= 2_000
    lines = text.splitlines()
    # The oldest are merged into one aggregate line, the newest stays in full.
    assert lines[0].startswith("- iterations 1-") and "discarded" in lines[0]
    assert lines[-1].startswith("- iteration 40 (v0000 -> v0040): DISCARDED")
    assert "Change number 40" in lines[-1] and "Change number 1:" not in text
    # A looser cap keeps more of them whole.
    assert render_memory(entries, max_chars=1_000_000).count("DISCARDED") == 40


def test_memory_survives_a_restart_and_renders_only_earlier_iterations(tmp_path):
    memory = MetaMemory(tmp_path)
    memory.record(entry(1))
    memory.record(entry(2, "kept"))
    memory.record(entry(2, "kept", description="Rewritten after resume."))  # the same iteration, finished again
    assert (tmp_path / MEMORY_JSON).is_file() and "DISCARDED" in (tmp_path / MEMORY_MD).read_text()
    reloaded = MetaMemory(tmp_path)
    assert [e.iteration for e in reloaded.ordered()] == [1, 2]
    assert reloaded.entries[2].description == "Rewritten after resume."
    assert "iteration 2" not in reloaded.render(before_iteration=2) and "iteration 1" in reloaded.render(2)
    assert [e.iteration for e in reloaded.discarded()] == [1]

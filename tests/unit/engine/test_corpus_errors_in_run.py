"""Entries of the sources that cannot be read (dangling symlinks, symlinks to directories) and over-long
JSONL problems reach errors.jsonl and the summary as bad input, and the rest of the batch still runs."""

import io

from rich.console import Console

from autodata.engine.corpus import iter_documents
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.report.summary import print_summary
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import scripted_provider


def corpus_with_unreadable_entries(tmp_path):
    src = tmp_path / "src"
    (src / "elsewhere").mkdir(parents=True)
    (src / "a.md").write_text("# Paper A\n\nDropout zeroes activations at random during training.")
    (src / "b.md").symlink_to(tmp_path / "gone.md")
    (src / "linked").symlink_to(src / "elsewhere", target_is_directory=True)
    (src / "problems.jsonl").write_text('{"question": "' + "Long " * 200 + '?", "answer": "42"}\n')
    return src


async def test_skipped_entries_are_listed_in_errors_and_counted_in_the_summary(tmp_path):
    provider = scripted_provider(GraphScript(items=[rubric_item("Q?")], judge_hits=lambda a, n: [False] * n))
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", max_rounds=1, samples=1), provider, run_dir)
    stats = await generator.run(iter_documents(corpus_with_unreadable_entries(tmp_path), max_chars=500))

    errors = {error["doc_id"]: error for error in run_dir.errors()}
    assert set(errors) == {"b", "linked", "problems-L1"} and stats.bad_input == 3
    assert all(error["kind"] == "bad_input" for error in errors.values())
    assert errors["b"]["reason"].startswith("dangling symlink")
    assert errors["linked"]["reason"].startswith("symlink to a directory")
    assert "line 1" in errors["problems-L1"]["reason"] and "budget of 500 characters" in errors["problems-L1"]["reason"]
    assert stats.documents == 1  # a.md still ran

    console = Console(file=io.StringIO(), width=200)
    print_summary(console, [(stats, run_dir)])
    assert "3 document(s) were bad input: see" in console.file.getvalue()

"""The challenger reads a document whole when it fits the reading budget (max_source_chars), a span beyond it."""

from __future__ import annotations

from pathlib import Path

from autodata.engine.corpus import iter_documents
from autodata.graphs.self_instruct import build_self_instruct, recursion_limit
from autodata.llm.settings import EMBEDDED_SOURCE_CHARS, REMOTE_SOURCE_CHARS, load_settings
from autodata.state.context import RunContext
from tests.support.graph_script import GraphScript, rubric_item
from tests.support.scripted import scripted_provider

REMOTE_ENV = {"AUTODATA_MODEL": "some-remote-model", "AUTODATA_BASE_URL": "http://127.0.0.1:9/v1"}
LAST_PARAGRAPH = "Finally, the conclusion: noise injection and width interact multiplicatively."


def long_paper(tmp_path: Path, paragraphs: int = 400) -> Path:
    """A paper of about 40,000 characters: far over the embedded budget, well within the remote one."""
    paragraph = "Paragraph {}: the method perturbs hidden units and measures the effect. More detail follows."
    body = "\n\n".join(paragraph.format(i) for i in range(paragraphs))
    path = tmp_path / "paper.md"
    path.write_text(f"# A Long Paper\n\n{body}\n\n{LAST_PARAGRAPH}\n", encoding="utf-8")
    return path


async def challenger_request(doc) -> str:
    script = GraphScript(items=[rubric_item("Q?")])
    provider = scripted_provider(script)
    graph = build_self_instruct(provider).compile()
    await graph.ainvoke(
        {"document": doc}, context=RunContext(max_rounds=1), config={"recursion_limit": recursion_limit(1)}
    )
    return script.calls["challenger"][0]


def test_budget_defaults_to_a_whole_paper_remotely_and_a_span_on_the_embedded_model(tmp_path):
    assert load_settings(env=REMOTE_ENV).max_source_chars == REMOTE_SOURCE_CHARS >= 100_000
    assert load_settings(env={}).max_source_chars == EMBEDDED_SOURCE_CHARS < 10_000
    config = tmp_path / "autodata.toml"
    config.write_text("[generation]\nmax_source_chars = 50000\n")
    assert load_settings(config, env={}).max_source_chars == 50_000


async def test_a_document_under_the_budget_reaches_the_challenger_whole(tmp_path):
    path = long_paper(tmp_path)
    whole = path.read_text(encoding="utf-8")
    settings = load_settings(env=REMOTE_ENV)
    assert 20_000 < len(whole) < settings.max_source_chars
    (doc,) = iter_documents(path, settings.max_source_chars)
    assert doc.span == (0, len(whole)) and doc.text == whole
    request = await challenger_request(doc)
    assert whole.strip() in request and LAST_PARAGRAPH in request


async def test_a_document_over_the_budget_is_cut_to_a_span(tmp_path):
    path = long_paper(tmp_path)
    whole = path.read_text(encoding="utf-8")
    budget = load_settings(env={}).max_source_chars
    assert len(whole) > budget
    (doc,) = iter_documents(path, budget)
    assert doc.span[0] == 0 and doc.span[1] <= budget and doc.total_chars == len(whole)
    request = await challenger_request(doc)
    assert doc.text.strip() in request
    assert LAST_PARAGRAPH not in request and whole.strip() not in request

"""The served graph API: the real `langgraph dev` server, driven with the official `langgraph_sdk` client.

The server is started once for this module (~10-30 s: it imports every graph in langgraph.json) on a free
loopback port, with its models pointed at the fake OpenAI server running in this process, and stopped at
the end (only the process group this test started). It runs from a temporary directory with a copy of
langgraph.json whose paths are absolute, so its in-memory persistence files stay out of the checkout, and
with `--no-reload`, so edits to .py files elsewhere in the checkout cannot restart it mid-run.
Offline: LangSmith tracing off, the CLI's analytics off (LANGGRAPH_CLI_NO_ANALYTICS=1), and no LangSmith or
license key in its environment, so the server skips its metadata/licence calls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from autodata.llm.models import ModelProvider
from autodata.engine.remote import remote_invoker, thread_id_for
from autodata.engine.reviews import ReviewLog
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator, item_id
from autodata.llm.settings import load_settings
from autodata.state.context import RunContext
from autodata.state.legal import LegalState
from autodata.state.self_instruct import SelfInstructState
from autodata.tasks import task_spec
from tests.support.fake_openai import FakeOpenAIServer, settings_env, unused_port
from tests.support.graph_script import GraphScript, make_document, rubric_item

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Why does dropout reduce co-adaptation between hidden units?"
SECRET_ENV = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_API_KEY", "LANGGRAPH_CLOUD_LICENSE_KEY", "OPENAI_API_KEY")


def absolute_config(directory: Path) -> Path:
    """The repository's langgraph.json, every path made absolute, written into `directory`."""
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str((ROOT / dep).resolve()) for dep in config["dependencies"]]
    for name, spec in config["graphs"].items():
        file, variable = spec.rsplit(":", 1)
        config["graphs"][name] = f"{(ROOT / file).resolve()}:{variable}"
    path = directory / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


def server_env(models_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SECRET_ENV and not key.startswith("AUTODATA_")}
    env.update(LANGSMITH_TRACING="false", LANGGRAPH_CLI_NO_ANALYTICS="1")
    env.update(settings_env(models_url, AUTODATA_MAX_RETRIES="1", AUTODATA_TIMEOUT="30"))
    return env


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev did not answer /ok within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Stop the server's process group (started in its own session by this test), gently first."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def script():
    return GraphScript(items=[rubric_item(QUESTION)])


@pytest.fixture(scope="module")
def models(script):
    with FakeOpenAIServer(script) as server:
        yield server


@pytest.fixture(scope="module")
def server_url(models, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    port = unused_port()
    log = workdir / "server.log"
    command = [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
               "--host", "127.0.0.1", "--port", str(port), "--config", str(absolute_config(workdir))]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, env=server_env(models.base_url), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield url
    finally:
        stop(process)


def graph_input(doc) -> dict:
    return {"document": doc.model_dump(mode="json")}


def context(**overrides) -> dict:
    return RunContext(task="cs-research", samples=2, max_rounds=2, **overrides).model_dump(mode="json")


async def test_every_graph_in_langgraph_json_is_served(server_url):
    client = get_client(url=server_url)
    served = {assistant["graph_id"] for assistant in await client.assistants.search(limit=100)}
    assert set(json.loads((ROOT / "langgraph.json").read_text())["graphs"]) <= served


async def test_runs_wait_returns_the_accepted_item(server_url, models):
    client = get_client(url=server_url)
    thread = await client.threads.create()
    before = len(models.requests)
    values = await client.runs.wait(thread["thread_id"], "self_instruct", input=graph_input(make_document()), context=context())
    state = SelfInstructState.model_validate(values)
    assert state.status == "accepted" and state.accepted_item.question == QUESTION
    assert [record.outcome.value for record in state.rounds] == ["accepted"]
    # The server's nodes called the configured models: challenger, 2 QV, 2+2 solver samples, 4 judge calls.
    seen = [r.role for r in models.requests[before:]]
    assert sorted(set(seen)) == ["challenger", "judge", "quality_verifier", "strong", "weak"] and len(seen) == 11


async def test_runs_stream_reports_each_node_then_the_final_state(server_url):
    client = get_client(url=server_url)
    thread = await client.threads.create()
    nodes, last_values = [], None
    async for part in client.runs.stream(
        thread["thread_id"], "self_instruct", input=graph_input(make_document()), context=context(),
        stream_mode=["updates", "values"],
    ):  # fmt: skip
        assert part.event != "error", part.data
        if part.event == "updates":
            nodes += list(part.data)
        elif part.event == "values":
            last_values = part.data
    assert nodes[:2] == ["challenger", "quality_verifier"] and nodes[-1] == "accept"
    assert nodes.count("weak_solver") == 2 and nodes.count("strong_solver") == 2
    assert SelfInstructState.model_validate(last_values).status == "accepted"


async def test_remote_invoker_runs_once_per_item_and_reuses_finished_threads(server_url, models):
    invoke = remote_invoker(server_url)
    doc = make_document("A paper about weight decay. It shrinks weights towards zero every step.")
    ctx = RunContext(task="cs-research", samples=2, max_rounds=2)
    config = {"recursion_limit": 40, "metadata": {"task": ctx.task, "document_id": doc.doc_id}}
    first = await invoke(doc, ctx, config)
    assert SelfInstructState.model_validate(first).status == "accepted"
    thread_id = thread_id_for(item_id(ctx.task, doc, 0), ctx)
    assert (await get_client(url=server_url).threads.get(thread_id))["thread_id"] == thread_id
    calls = len(models.requests)
    again = await invoke(doc, ctx, config)
    assert again == first and len(models.requests) == calls, "a finished thread must not call the models again"


async def test_generate_legal_through_the_server_runs_the_served_legal_graph(server_url, models, tmp_path):
    doc = make_document("An opinion: a landlord may not keep a deposit for ordinary wear and tear.")
    provider = ModelProvider(load_settings(env={"AUTODATA_MODEL": "served", "AUTODATA_BASE_URL": models.base_url}))
    options = GenerateOptions(task="legal", weak_samples=2, strong_samples=1, max_rounds=2, run_id="served-legal")
    run_dir = RunDirectory(tmp_path / "run")
    invoke = remote_invoker(server_url, task_spec("legal").graph)
    stats = await Generator(options, provider, run_dir, invoke=invoke).run([doc])
    assert stats.accepted == 1 and stats.failed == 0
    (item,) = run_dir.items()
    assert item["grpo_suitability"] == "high" and all(c["capability"] for c in item["rubric"])
    (trajectory,) = run_dir.trajectories()
    assert trajectory["extract"]["suitable_for_synthetic_question"] is True


async def test_generate_through_the_server_writes_the_usual_run_directory(server_url, models, tmp_path):
    docs = [make_document(f"Document {i} on regularisation: noise injection and its effect number {i}.") for i in range(2)]
    docs = [doc.model_copy(update={"doc_id": f"doc-{i}"}) for i, doc in enumerate(docs)]
    # The client needs settings only to record model names; the server's environment picks the models.
    provider = ModelProvider(load_settings(env={"AUTODATA_MODEL": "served", "AUTODATA_BASE_URL": models.base_url}))
    options = GenerateOptions(task="cs-research", samples=2, max_rounds=2, concurrency=2, run_id="served")
    run_dir = RunDirectory(tmp_path / "run")
    stats = await Generator(options, provider, run_dir, invoke=remote_invoker(server_url)).run(docs)
    # Both documents ask the scripted question, so the second is dropped as a near duplicate of the first.
    assert stats.accepted == 1 and stats.near_duplicates == 1 and stats.failed == 0
    assert [row["question"] for row in run_dir.items()] == [QUESTION]
    assert sorted(t["doc_id"] for t in run_dir.trajectories()) == ["doc-0", "doc-1"]


# -- a person in the loop: the thread pauses where it would accept, and is resumed with a decision ----------

EDITED_ANSWER = "Dropout forces each unit to be useful on its own, since any partner may be dropped."


async def paused_for_review(client) -> tuple[str, dict]:
    """A self_instruct thread run with review on, stopped at its pause; its id and the pause (id, value)."""
    thread = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread, "self_instruct", input=graph_input(make_document()), context=context(review=True))
    state = await client.threads.get_state(thread)
    (pause,) = state["interrupts"]
    assert state["next"] == ["review"]
    return thread, pause


async def resume(client, thread: str, decision: dict) -> dict:
    return await client.runs.wait(thread, "self_instruct", command={"resume": decision}, context=context(review=True))


async def test_a_reviewed_thread_pauses_with_the_item_and_an_approval_keeps_it(server_url):
    client = get_client(url=server_url)
    thread, pause = await paused_for_review(client)
    payload = pause["value"]
    assert payload["question"] == QUESTION and payload["rubric"] and payload["weak"] and payload["strong"]
    assert payload["policy"]["preset"] and {v["stage"] for v in payload["verdicts"]} >= {"initial", "end_filter"}
    state = SelfInstructState.model_validate(await resume(client, thread, {"decision": "approve", "reviewer": "ana"}))
    assert state.status == "accepted" and state.accepted_item.question == QUESTION
    assert [(r.decision, r.reviewer) for r in state.reviews] == [("approve", "ana")]
    assert (await client.threads.get(thread))["status"] == "idle"


async def test_an_edited_answer_is_scored_again_and_kept_through_the_server(server_url):
    client = get_client(url=server_url)
    thread, _ = await paused_for_review(client)
    edit = {"decision": "edit", "edits": {"reference_answer": EDITED_ANSWER}, "reviewer": "bo"}
    state = SelfInstructState.model_validate(await resume(client, thread, edit))
    assert state.status == "accepted" and state.accepted_item.reference_answer == EDITED_ANSWER
    assert [r.rule for r in state.rounds] == ["review_edit", None] and state.rounds[1].scores
    assert [(r.decision, r.edited_fields) for r in state.reviews] == [("edit", ["reference_answer"])]


async def test_a_rejection_goes_back_to_the_loop_and_the_next_item_pauses_again(server_url):
    client = get_client(url=server_url)
    thread, first = await paused_for_review(client)
    values = await resume(client, thread, {"decision": "reject", "reason": "the context gives it away"})
    state = SelfInstructState.model_validate(values)
    assert state.status == "running" and state.round == 2 and state.accepted_item is None
    (rejected,) = state.rounds
    assert rejected.rule == "review" and "a reviewer rejected the item: the context gives it away" in (
        rejected.feedback.details
    )
    again = await client.threads.get_state(thread)
    (pause,) = again["interrupts"]
    assert pause["value"]["round"] == 2 and pause["id"] != first["id"]


async def test_generate_review_through_the_server_waits_then_resumes_the_servers_thread(server_url, models, tmp_path):
    """`generate --review --server`: the paused thread stays on the server, is listed in the run directory, and the
    next run resumes it there with the decision `autodata review` recorded, once."""
    doc = make_document("A paper about label smoothing. It softens the one-hot targets towards uniform.")
    provider = ModelProvider(load_settings(env={"AUTODATA_MODEL": "served", "AUTODATA_BASE_URL": models.base_url}))
    options = GenerateOptions(task="cs-research", samples=2, max_rounds=2, run_id="served-review", review=True)
    run_dir = RunDirectory(tmp_path / "run")
    log = ReviewLog(run_dir.path)

    def generator() -> Generator:
        return Generator(options, provider, run_dir, invoke=remote_invoker(server_url, "self_instruct", reviews=log))

    def run_once():
        return generator().run([doc])

    first = await run_once()
    assert (first.awaiting_review, first.accepted) == (1, 0) and run_dir.items() == []
    (pause,) = log.waiting()
    assert pause.payload["question"] == QUESTION and pause.payload["editable"]
    thread = thread_id_for(pause.item_id, generator().ctx)
    assert (await get_client(url=server_url).threads.get(thread))["status"] == "interrupted"

    calls = len(models.requests)
    waiting_again = await run_once()  # nobody decided yet: the thread stays paused, no model is called
    assert waiting_again.awaiting_review == 1 and len(models.requests) == calls

    log.record_decision(pause.item_id, {"decision": "approve", "reviewer": "ana", "at": "2026-12-02T10:00:00+00:00"})
    resumed = await run_once()
    assert (resumed.accepted, resumed.awaiting_review) == (1, 0)
    (item,) = run_dir.items()
    assert [(r["decision"], r["reviewer"]) for r in item["reviews"]] == [("approve", "ana")]
    assert log.applied() == {(pause.item_id, pause.pause_id)} and log.waiting() == []
    calls = len(models.requests)
    assert (await run_once()).failed == 0 and len(models.requests) == calls and len(run_dir.items()) == 1


async def test_the_served_legal_graph_pauses_for_review_and_takes_a_rejection_then_an_edit(server_url):
    """`review` in the legal_reasoning graph's context: the pause, a rejection that sends the writer round again,
    and an edit of the question that keeps the item with it."""
    client = get_client(url=server_url)
    legal_context = {"task": "legal", "weak_samples": 2, "strong_samples": 1, "max_improve_rounds": 2, "review": True}
    doc = make_document("An opinion: a landlord may not keep a deposit for ordinary wear and tear.")
    thread = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread, "legal_reasoning", input=graph_input(doc), context=legal_context)
    (first,) = (await client.threads.get_state(thread))["interrupts"]
    assert first["value"]["editable"] == ["question", "rubric"] and first["value"]["rubric"]
    assert "loop judge accepted it" in first["value"]["passed_by"]

    async def resume(decision: dict) -> dict:
        return await client.runs.wait(thread, "legal_reasoning", command={"resume": decision}, context=legal_context)

    await resume({"decision": "reject", "reason": "the tenant's facts give the answer away"})
    (second,) = (await client.threads.get_state(thread))["interrupts"]
    assert second["value"]["round"] == 2 and second["id"] != first["id"]
    edited = "My landlord kept my whole deposit for scuffed paint after five years. Can he?"
    state = LegalState.model_validate(await resume({"decision": "edit", "edits": {"question": edited}}))
    assert state.status == "accepted" and state.accepted_item.question == edited
    assert [r.outcome for r in state.rounds] == ["rejected_by_review", "accepted"]
    assert [(r.decision, r.edited_fields) for r in state.reviews] == [("reject", []), ("edit", ["question"])]

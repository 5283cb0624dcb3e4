"""Where a model call's client-side CPU goes, layer by layer, against the fake server with zero latency.

Raw HTTP (httpx) for reference, then two stacks: the OpenAI SDK < LangChain's ChatOpenAI, and autodata's
lean `OpenAICompatibleChatModel` (aiohttp) < autodata's ModelProvider (retries, usage counting,
structured-output parsing), which uses the lean model. Calls run one at a time, so CPU per call is the client's cost alone; the server runs
in a child process.

    python benchmarks/call_overhead.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402
from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from autodata.llm.openai_compat import OpenAICompatibleChatModel  # noqa: E402
from autodata.state.llm_outputs import RubricGrades  # noqa: E402
from benchmarks.throughput import fake_server_provider  # noqa: E402
from tests.support.fake_openai import FakeOpenAIProcess  # noqa: E402

SYSTEM = "You are a strict grader. You check a candidate answer against a list of criteria, one by one. " * 4
USER = "Question: why?\n\n<answer>\nstrong answer: they compete for capacity.\n</answer>\n\nCriteria:\n" + "\n".join(
    f"{i}. explains step {i}" for i in range(1, 11)
)
OPENAI_MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
LC_MESSAGES = [SystemMessage(SYSTEM), HumanMessage(USER)]


async def cpu_per_call(call: Callable[[], Awaitable[Any]], n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call, after a few warm-up calls."""
    for _ in range(5):
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await call()
    return 1000 * (time.process_time() - cpu) / n, 1000 * (time.perf_counter() - wall) / n


async def measure_layers(base_url: str, n: int = 200) -> list[tuple[str, float, float]]:
    body = {"model": "judge", "messages": OPENAI_MESSAGES}
    provider = fake_server_provider(base_url)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    chat = ChatOpenAI(model="judge", base_url=base_url, api_key="not-needed", max_retries=0, stream_usage=True)
    lean = OpenAICompatibleChatModel(model="judge", base_url=base_url)
    async with httpx.AsyncClient() as http:
        layers: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("httpx POST", lambda: http.post(f"{base_url}/chat/completions", json=body)),
            ("openai AsyncOpenAI.create", lambda: client.chat.completions.create(model="judge", messages=OPENAI_MESSAGES)),
            ("langchain ChatOpenAI.ainvoke", lambda: chat.ainvoke(LC_MESSAGES)),
            ("autodata OpenAICompatibleChatModel", lambda: lean.ainvoke(LC_MESSAGES)),
            ("autodata ModelProvider.text", lambda: provider.text("judge", LC_MESSAGES)),
            ("autodata ModelProvider.structured", lambda: provider.structured("judge", RubricGrades, LC_MESSAGES)),
        ]
        return [(name, *await cpu_per_call(call, n)) for name, call in layers]


def report(rows: list[tuple[str, float, float]]) -> str:
    lines = [f"{'layer':36s} {'CPU ms/call':>12s} {'wall ms/call':>13s}"]
    lines += [f"{name:36s} {cpu:12.2f} {wall:13.2f}" for name, cpu, wall in rows]
    return "\n".join(lines)


def main() -> None:
    with FakeOpenAIProcess("benchmarks.throughput:answer", latency=0.0) as server:
        print(report(asyncio.run(measure_layers(server.base_url))))


if __name__ == "__main__":
    main()

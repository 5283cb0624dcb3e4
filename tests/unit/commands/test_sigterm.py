"""SIGTERM ends a command the way Ctrl-C does, with exit code 143: inside `asyncio.run` every task unwinds
through its `finally` blocks, and no task is left holding the exit for asyncio to print as a traceback (raising
SystemExit from the handler, as before, left a traceback or a hung process, depending on where it landed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

BUSY_COMMAND = """
import asyncio, signal, sys
import typer
from autodata.commands.support import exit_on_sigterm, interrupts_reported

signal.signal(signal.SIGTERM, exit_on_sigterm)
if len(sys.argv) > 1:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a job a shell started in the background

async def spin(index):
    try:
        while True:
            await asyncio.sleep(0)
    finally:
        print(f"unwound {index}", flush=True)

async def main():
    tasks = [asyncio.create_task(spin(index)) for index in range(4)]
    print("ready", flush=True)
    await asyncio.gather(*tasks)

try:
    with interrupts_reported():
        asyncio.run(main())
except typer.Exit as exc:
    sys.exit(exc.exit_code)
"""


def terminate_busy_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "busy.py"
    script.write_text(BUSY_COMMAND, encoding="utf-8")
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("SIGTERM did not end the command")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("attempt", range(2))
def test_sigterm_unwinds_every_task_and_says_how_to_resume(tmp_path, attempt):
    done = terminate_busy_command(tmp_path)
    assert done.returncode == 143, done.stderr
    assert "interrupted; run the same command to resume" in done.stderr and "Traceback" not in done.stderr
    assert sorted(done.stdout.splitlines()) == [f"unwound {index}" for index in range(4)]


@pytest.mark.parametrize("attempt", range(2))
def test_sigterm_still_ends_a_command_whose_ctrl_c_is_ignored(tmp_path, attempt):
    done = terminate_busy_command(tmp_path, "background")
    assert done.returncode == 143, done.stderr
    assert "interrupted; run the same command to resume" in done.stderr and "Traceback" not in done.stderr
    assert sorted(done.stdout.splitlines()) == [f"unwound {index}" for index in range(4)]

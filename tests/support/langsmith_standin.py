"""A loopback stand-in for LangSmith's ingest API that records what the `langsmith` client sends.

Point a process at it with `LANGSMITH_ENDPOINT=<standin.url>` (and any `LANGSMITH_API_KEY`): it answers
`GET /info` with a server description that switches zstd compression on only with `compression=True` (the
client then sends zstd-compressed multipart batches, as to LangSmith's cloud; set
`LANGSMITH_DISABLE_RUN_COMPRESSION=true` in the traced process otherwise, or the client warns), accepts the
multipart (`POST /runs/multipart`) and JSON (`POST /runs/batch`, `POST /runs`, `PATCH /runs/<id>`) ingest
requests, and keeps each request's raw body (what the bill and the bandwidth are about) and the run
operations it carried, parsed: one dict per create (`post`) or update (`patch`) of a run, with its `inputs`,
`outputs` and other parts merged in. Anything else is answered `{}`. It runs in a background thread of the
test process and stops only what it started.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class IngestRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorded:
    requests: list[IngestRequest] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)  # {"op": "post"|"patch", "id": ..., **run}
    lock: threading.Lock = field(default_factory=threading.Lock)


def _decoded(body: bytes, headers: dict[str, str]) -> bytes:
    if headers.get("content-encoding", "").lower() == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


def multipart_operations(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The run operations of a `runs/multipart` body: parts named `post.<id>` / `patch.<id>` hold the run,
    parts named `post.<id>.<field>` one of its fields (inputs, outputs, events, ...)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        op, _, rest = name.partition(".")
        run_id, _, field_name = rest.partition(".")
        if op not in ("post", "patch") or not run_id:
            continue  # attachments and feedback are not runs
        payload = part.get_payload(decode=True) or b""
        try:
            value = json.loads(payload)
        except ValueError:
            value = payload.decode("utf-8", "replace")
        run = runs.setdefault((op, run_id), {"op": op, "id": run_id})
        if field_name:
            run[field_name] = value
        elif isinstance(value, dict):
            run.update(value)
    return list(runs.values())


def json_operations(path: str, method: str, body: bytes) -> list[dict[str, Any]]:
    data = json.loads(body or b"{}")
    if path.endswith("/runs/batch"):
        return [{"op": op, **run} for op in ("post", "patch") for run in data.get(op) or []]
    if method == "PATCH":
        return [{"op": "patch", "id": path.rsplit("/", 1)[-1], **data}]
    return [{"op": "post", **data}]


class LangSmithStandIn:
    """The stand-in on a free loopback port; a context manager."""

    def __init__(self, compression: bool = False) -> None:
        self.recorded = Recorded()
        info = {"instance_flags": {"zstd_compression_enabled": compression}}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.recorded, info))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[IngestRequest]:
        with self.recorded.lock:
            return list(self.recorded.requests)

    @property
    def operations(self) -> list[dict[str, Any]]:
        with self.recorded.lock:
            return list(self.recorded.operations)

    def ingest_bytes(self, decoded: bool = False) -> int:
        """Bytes of every run-ingest request body as sent (compressed if it was), or `decoded`."""
        bodies = (_decoded(r.body, r.headers) if decoded else r.body for r in self.requests if "/runs" in r.path)
        return sum(len(body) for body in bodies)

    def runs(self) -> dict[str, dict[str, Any]]:
        """Each run's create and updates merged, by run id."""
        merged: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            run = merged.setdefault(str(op["id"]), {})
            run.update({k: v for k, v in op.items() if v is not None and k != "op"})
        return merged

    def start(self) -> LangSmithStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="langsmith-standin")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> LangSmithStandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _handler(recorded: Recorded, info: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, payload: Any = None, status: int = 200) -> None:
            body = json.dumps({} if payload is None else payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            operations: list[dict[str, Any]] = []
            if "/runs" in path:
                plain = _decoded(body, headers)
                content_type = headers.get("content-type", "")
                if content_type.startswith("multipart/"):
                    operations = multipart_operations(plain, content_type)
                elif plain:
                    operations = json_operations(path, self.command, plain)
            with recorded.lock:
                recorded.requests.append(IngestRequest(self.command, path, headers, body))
                recorded.operations.extend(operations)
            self._answer()

        def do_GET(self) -> None:
            self._answer(info if self.path.split("?", 1)[0].endswith("/info") else None)

        def do_POST(self) -> None:
            self._record()

        def do_PATCH(self) -> None:
            self._record()

    return Handler

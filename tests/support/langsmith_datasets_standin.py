"""A loopback stand-in for the LangSmith API's dataset endpoints: what `langsmith.Client` calls to create a
dataset and add examples to it (server info, create dataset, bulk examples), recording what it received.

Point the client at it with `LANGSMITH_ENDPOINT=<standin.url>`. A request whose `x-api-key` is not the key it
was started with is answered 401, and a second dataset of the same name 409, as LangSmith answers them.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class LangSmithRecord:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> the dataset as created
    examples: list[dict[str, Any]] = field(default_factory=list)  # each example as posted

    def examples_of(self, name: str) -> list[dict[str, Any]]:
        dataset_id = self.datasets[name]["id"]
        return [example for example in self.examples if example.get("dataset_id") == dataset_id]


class LangSmithDatasetsStandIn:
    def __init__(self, api_key: str = "lsv2_standin_key") -> None:
        self.api_key = api_key
        self.record = LangSmithRecord()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="langsmith-standin")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LangSmithDatasetsStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                standin.record.requests.append((method, path))
                if method == "GET" and path == "/info":
                    return self._reply(200, {"version": "standin", "instance_flags": {}})
                if self.headers.get("x-api-key") != standin.api_key:
                    return self._reply(401, {"detail": "Invalid token"})
                if method == "GET" and path == "/sessions":  # the client looks up its tenant: none here
                    return self._reply(200, [])
                if method == "POST" and path == "/datasets":
                    return self._create_dataset(json.loads(body))
                if method == "POST" and path == "/examples/bulk":
                    return self._create_examples(json.loads(body))
                self._reply(404, {"detail": f"the stand-in does not serve {method} {path}"})

            def _create_dataset(self, payload: dict[str, Any]) -> None:
                if payload["name"] in standin.record.datasets:
                    return self._reply(409, {"detail": f"Dataset {payload['name']} already exists"})
                now = datetime.now(timezone.utc).isoformat()
                dataset = {**payload, "id": str(uuid.uuid4()), "created_at": now, "modified_at": now}
                standin.record.datasets[payload["name"]] = dataset
                self._reply(200, dataset)

            def _create_examples(self, payload: list[dict[str, Any]]) -> None:
                created = [{**example, "id": example.get("id") or str(uuid.uuid4())} for example in payload]
                standin.record.examples.extend(created)
                self._reply(200, created)

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

"""A loopback stand-in for the LangSmith API's dataset endpoints: what `langsmith.Client` calls to create a
dataset and add examples to it (server info, create dataset, bulk examples), recording what it received.

Point the client at it with `LANGSMITH_ENDPOINT=<standin.url>`. A request whose `x-api-key` is not the key it
was started with is answered 401, and a second dataset of the same name 409, as LangSmith answers them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from typing import Any

from tests.support.json_standin import JSONStandIn


@dataclass
class LangSmithRecord:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> the dataset as created
    examples: list[dict[str, Any]] = field(default_factory=list)  # each example as posted

    def examples_of(self, name: str) -> list[dict[str, Any]]:
        dataset_id = self.datasets[name]["id"]
        return [example for example in self.examples if example.get("dataset_id") == dataset_id]


class LangSmithDatasetsStandIn(JSONStandIn):
    name = "langsmith-datasets-standin"

    def __init__(self, api_key: str = "lsv2_standin_key") -> None:
        self.api_key = api_key
        self.record = LangSmithRecord()
        super().__init__()

    def answer(self, method: str, path: str, headers: Message, body: bytes) -> tuple[int, Any]:
        self.record.requests.append((method, path))
        if method == "GET" and path == "/info":
            return 200, {"version": "standin", "instance_flags": {}}
        if headers.get("x-api-key") != self.api_key:
            return 401, {"detail": "Invalid token"}
        if method == "GET" and path == "/sessions":  # the client looks up its tenant: none here
            return 200, []
        if method == "POST" and path == "/datasets":
            return self._create_dataset(json.loads(body))
        if method == "POST" and path == "/examples/bulk":
            return self._create_examples(json.loads(body))
        return 404, {"detail": f"the stand-in does not serve {method} {path}"}

    def _create_dataset(self, payload: dict[str, Any]) -> tuple[int, Any]:
        if payload["name"] in self.record.datasets:
            return 409, {"detail": f"Dataset {payload['name']} already exists"}
        now = datetime.now(timezone.utc).isoformat()
        dataset = {**payload, "id": str(uuid.uuid4()), "created_at": now, "modified_at": now}
        self.record.datasets[payload["name"]] = dataset
        return 200, dataset

    def _create_examples(self, payload: list[dict[str, Any]]) -> tuple[int, Any]:
        created = [{**example, "id": example.get("id") or str(uuid.uuid4())} for example in payload]
        self.record.examples.extend(created)
        return 200, created

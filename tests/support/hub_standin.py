"""A loopback stand-in for the Hugging Face Hub's HTTP API: the endpoints `huggingface_hub` calls to create a
dataset repository and commit a folder to it (create repo, preupload, commit), recording what it received.

Point the client at it with `HF_ENDPOINT=<standin.url>`. Every file is answered as a regular (non-LFS) upload,
so its bytes arrive base64-encoded inside the commit's NDJSON body and the stand-in can keep them. A token
other than the one it was started with is answered 401, as the Hub answers a bad token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import yaml

from tests.support.json_standin import JSONStandIn


@dataclass
class Commit:
    repo_id: str
    revision: str
    summary: str
    files: dict[str, bytes]  # path in the repository -> content


@dataclass
class HubRecord:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)  # repo id -> create_repo's body
    commits: list[Commit] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)  # each README.md's YAML header it validated


def card_metadata(readme: str) -> dict[str, Any]:
    """The YAML header of a README.md (between its first two `---` lines); empty when it has none."""
    match = re.match(r"---\n(.*?)\n---\n", readme, re.DOTALL)
    loaded = yaml.safe_load(match[1]) if match else None
    return loaded if isinstance(loaded, dict) else {}


def metadata_errors(readme: str) -> list[str]:
    """What the Hub would refuse in a dataset card's header (the few rules the stand-in checks)."""
    try:
        metadata = card_metadata(readme)
    except yaml.YAMLError as exc:
        return [f"invalid YAML: {exc}"]
    errors = [f"'{key}' must be a list" for key in ("language", "task_categories", "size_categories", "configs")
              if key in metadata and not isinstance(metadata[key], list)]  # fmt: skip
    for config in metadata.get("configs") or []:
        if not isinstance(config, dict) or not config.get("config_name") or not config.get("data_files"):
            errors.append(f"a config needs config_name and data_files: {config!r}")
    return errors


class HubStandIn(JSONStandIn):
    name = "hub-standin"

    def __init__(self, token: str = "hf_standin_token") -> None:
        self.token = token
        self.record = HubRecord()
        super().__init__()

    def answer(self, method: str, path: str, headers: Message, body: bytes) -> tuple[int, Any]:
        self.record.requests.append((method, path))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body))
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body))
        if re.fullmatch(r"/api/datasets/(.+)/preupload/([^/]+)", path):
            return self._preupload(json.loads(body))
        if match := re.fullmatch(r"/api/datasets/(.+)/commit/([^/]+)", path):
            return self._commit(match[1], match[2], body)
        return 404, {"error": f"the stand-in does not serve {method} {path}"}

    def _create_repo(self, payload: dict[str, Any]) -> tuple[int, Any]:
        owner = payload.get("organization")
        repo_id = f"{owner}/{payload['name']}" if owner else payload["name"]
        self.record.repos[repo_id] = payload
        return 200, {"url": f"{self.url}/datasets/{repo_id}", "name": repo_id}

    def _validate_yaml(self, payload: dict[str, Any]) -> tuple[int, Any]:
        errors = metadata_errors(payload["content"])
        if not errors:
            self.record.metadata.append(card_metadata(payload["content"]))
        return (400 if errors else 200), {"errors": [{"message": e} for e in errors], "warnings": []}

    def _preupload(self, payload: dict[str, Any]) -> tuple[int, Any]:
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in payload["files"]]
        return 200, {"files": files, "commitOid": "0" * 40}

    def _commit(self, repo_id: str, revision: str, body: bytes) -> tuple[int, Any]:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = {
            line["value"]["path"]: base64.b64decode(line["value"]["content"])
            for line in lines if line["key"] == "file"
        }  # fmt: skip
        self.record.commits.append(Commit(repo_id, revision, header.get("summary", ""), files))
        oid = hashlib.sha1(body).hexdigest()
        url = f"{self.url}/datasets/{repo_id}/commit/{oid}"
        return 200, {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None}

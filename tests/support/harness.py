"""End-to-end harness: the Bloxs sandbox and the adapter, each served by uvicorn on
loopback, the adapter configured from a real YAML file with real lookup tables and a real
store. Tests post webhooks over HTTP and look at what the sandbox holds."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from adapter.app import create_app
from adapter.bloxs.sandbox import SandboxConfig, create_sandbox_app
from adapter.config import load_settings
from adapter.settings import Settings
from tests.support.server import ServerThread

REPO = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
FIXTURES = REPO / "tests" / "fixtures"

JIRA_SECRET = "jira-example-secret-not-real"
CREATED_FIXTURE = "composed/jira_issue_created.json"

REPORTERS_CSV = """key,reference,contact_person_reference,default_object,name
712020:5b7c1f9e-3a41-4c8e-9d2b-0f6a8e4c1d77,100002,,,Fatima el Amrani
5c5f880629be9642ba529340,100003,,300002,Pieter de Vries
pieter.devries@example.com,100003,,300002,Pieter de Vries
othello@zulip.com,100003,,300010,Pieter de Vries
"""
OBJECTS_CSV = """key,reference,name
Building B,300003,Complex De Linden
LL12,300001,Lindenlaan 12
LL14,300002,Lindenlaan 14
CDL,300003,Complex De Linden
KS5A,300010,Kerkstraat 5A
"""


def fixture_bytes(relative: str) -> bytes:
    """A fixture file's exact bytes: tests/fixtures first, else ../shared/fixtures."""
    local = FIXTURES / relative
    return (local if local.exists() else SHARED_FIXTURES / relative).read_bytes()


def restamp(body: bytes) -> bytes:
    """The payload with its Jira `timestamp` set to now, every other byte unchanged: the
    recorded fixtures are years old and would fall outside the replay window."""
    now = str(int(time.time() * 1000)).encode()
    return re.sub(rb'("timestamp"\s*:\s*)\d+', lambda m: m.group(1) + now, body, count=1)


def jira_signature(body: bytes, secret: str = JIRA_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def base_config(store_url: str, bloxs_url: str) -> dict[str, Any]:
    return {
        "timezone": "Europe/Amsterdam",
        "store": store_url,
        "log_format": "json",
        "bloxs": {
            "base_url": bloxs_url,
            "api_key": "sandbox-api-key",
            "api_secret": "sandbox-api-secret",
            "timeout_seconds": 5,
            "retry": {"attempts": 4, "base_delay_seconds": 0.05, "max_delay_seconds": 0.5},
        },
        "lookups": {"reporters": "reporters.csv", "objects": "objects.csv"},
        "dispatcher": {
            "concurrency": 4,
            "poll_interval_seconds": 0.05,
            "lease_seconds": 30,
            "backoff_base_seconds": 0.1,
            "backoff_max_seconds": 0.5,
        },
        "sources": {
            "jira": {
                "type": "jira",
                "secrets": [JIRA_SECRET],
                "default_reporter": "100099",
                "default_state": "Nieuw",
                "status_map": {"In Progress": "In behandeling"},
                "object_key": {"field": "customfield_10045"},
                "missing_ticket": "park",
            }
        },
    }


class Harness:
    def __init__(self, directory: Path, sandbox: ServerThread, adapter: ServerThread) -> None:
        self.directory = directory
        self.sandbox = sandbox
        self.adapter = adapter
        self.http = httpx.Client(timeout=10)

    @property
    def settings(self) -> Settings:
        state: Any = self.adapter.config.app
        return state.state.runtime.settings  # type: ignore[no-any-return]

    def post(
        self,
        source: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.http.post(
            f"{self.adapter.url}/webhooks/{source}",
            content=body,
            headers=dict(headers or {"content-type": "application/json"}),
            params=params,
        )

    def post_jira(
        self, body: bytes, identifier: str | None = None, *, stamp: bool = True
    ) -> httpx.Response:
        if stamp:
            body = restamp(body)
        headers = {"content-type": "application/json", "x-hub-signature": jira_signature(body)}
        if identifier:
            headers["x-atlassian-webhook-identifier"] = identifier
        return self.post("jira", body, headers)

    def tickets(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.sandbox.url}/_sandbox/tickets")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get(f"{self.sandbox.url}/_sandbox/stats").json()
        return result

    def faults(self, **values: Any) -> None:
        self.http.put(f"{self.sandbox.url}/_sandbox/faults", json=values).raise_for_status()

    def adapter_store(self) -> Any:
        return self.adapter.config.app.state.runtime.store  # type: ignore[attr-defined]

    def delivery(self, delivery_id: str) -> Any:
        return self.adapter_store().get(delivery_id)

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_status(self, delivery_id: str, *statuses: str, timeout: float = 10.0) -> Any:
        wanted = statuses or ("done",)
        return self.wait_for(
            lambda: (d := self.delivery(delivery_id)) is not None and d.status in wanted and d,
            timeout,
            f"delivery {delivery_id} to be {'/'.join(wanted)}",
        )


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    (directory / "reporters.csv").write_text(REPORTERS_CSV, encoding="utf-8")
    (directory / "objects.csv").write_text(OBJECTS_CSV, encoding="utf-8")
    path = directory / "adapter.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@contextmanager
def running(
    directory: Path,
    *,
    store_url: str | None = None,
    sandbox_config: SandboxConfig | None = None,
    configure: Callable[[dict[str, Any]], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Harness]:
    """The sandbox and the adapter, running; `configure` edits the config dict first."""
    with ServerThread(create_sandbox_app(sandbox_config)) as sandbox:
        config = base_config(store_url or f"sqlite:///{directory / 'store.db'}", sandbox.url)
        if configure is not None:
            configure(config)
        path = write_config(directory, config)
        settings = load_settings(path, dict(environ if environ is not None else os.environ))
        with ServerThread(create_app(settings)) as adapter:
            harness = Harness(directory, sandbox, adapter)
            try:
                yield harness
            finally:
                harness.http.close()


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")

"""kill -9 of the adapter between the 202 and the send to Bloxs: nothing acknowledged is
lost, nothing is sent twice. The adapter runs as a real `bloxs-adapter serve` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.bloxs.sandbox import Faults, SandboxConfig, create_sandbox_app
from tests.support.harness import (
    CREATED_FIXTURE,
    base_config,
    dumps,
    fixture_bytes,
    jira_signature,
    restamp,
    write_config,
)
from tests.support.server import ServerThread

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_adapter(config: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "adapter", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("adapter did not start")


def post(port: int, body: bytes, identifier: str) -> httpx.Response:
    body = restamp(body)
    return httpx.post(
        f"http://127.0.0.1:{port}/webhooks/jira",
        content=body,
        headers={
            "content-type": "application/json",
            "x-hub-signature": jira_signature(body),
            "x-atlassian-webhook-identifier": identifier,
        },
        timeout=5,
    )


@pytest.mark.parametrize("latency_ms", [0, 300])
def test_kill_9_after_acknowledging_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, latency_ms: float
) -> None:
    """Five issues acknowledged with 202, the process killed with SIGKILL at once (latency 0)
    or while the creates are on the wire (latency 300 ms): after a restart there are
    exactly five tickets, one per issue."""
    sandbox_config = SandboxConfig(faults=Faults(latency_ms=latency_ms))
    with ServerThread(create_sandbox_app(sandbox_config)) as sandbox:
        config: dict[str, Any] = base_config(f"sqlite:///{tmp_path / 'store.db'}", sandbox.url)
        config["dispatcher"]["lease_seconds"] = 2
        path = write_config(tmp_path, config)
        port = free_port()
        adapter = start_adapter(path, port)
        payload = json.loads(fixture_bytes(CREATED_FIXTURE))
        keys = [f"FAC-{700 + n}" for n in range(5)]
        try:
            for n, key in enumerate(keys):
                payload["issue"]["key"] = key
                assert post(port, dumps(payload), f"crash-{n}").status_code == 202
            if latency_ms:
                time.sleep(latency_ms / 1000 / 2)
        finally:
            os.kill(adapter.pid, signal.SIGKILL)
            adapter.wait()
        adapter = start_adapter(path, port)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                tickets = httpx.get(f"{sandbox.url}/_sandbox/tickets").json()
                if len({t["externalIdentifier"] for t in tickets}) == len(keys):
                    break
                time.sleep(0.1)
            time.sleep(1.0)  # let any would-be duplicate arrive before counting
            tickets = httpx.get(f"{sandbox.url}/_sandbox/tickets").json()
            assert sorted(t["externalIdentifier"] for t in tickets) == keys
            # A retry after restart answers "duplicate": the delivery survived the crash.
            payload["issue"]["key"] = keys[0]
            assert post(port, dumps(payload), "crash-0").status_code == 200
        finally:
            adapter.terminate()
            adapter.wait(timeout=10)

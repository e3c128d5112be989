"""The command line as a user runs it: subprocesses of `python -m adapter`."""

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

from adapter.app import create_app
from adapter.bloxs.sandbox import create_sandbox_app
from adapter.config import load_settings
from tests.support.harness import (
    REPO,
    base_config,
    fixture_bytes,
    jira_signature,
    restamp,
    write_config,
)
from tests.support.server import ServerThread

EXAMPLE = REPO / "examples" / "adapter.yaml"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_translate_prints_the_create_request_offline() -> None:
    """translate: the composed Jira payload becomes a create request with lookups resolved."""
    result = cli(
        "translate",
        "--config",
        str(EXAMPLE),
        "--source",
        "jira",
        "--offline",
        "examples/payloads/jira_issue_created.json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["outcome"] == "ok"
    body = out["requests"][0]["body"]
    assert out["requests"][0]["operation"] == "create"
    assert body["externalIdentifier"] == "FAC-217"
    assert body["realEstateObjectReference"] == "300003"
    assert body["reporterReference"] == "100004"


def test_translate_says_parked_and_exits_1(tmp_path: Path) -> None:
    """A payload whose object is not in the table: exit 1, outcome parked, the key named."""
    payload = json.loads(fixture_bytes("composed/jira_issue_created.json"))
    payload["issue"]["fields"]["customfield_10045"]["value"] = "Building Q"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(payload))
    result = cli("translate", "--config", str(EXAMPLE), "--source", "jira", "--offline", str(path))
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["outcome"] == "parked"
    assert "Building Q" in out["reason"]


def test_translate_rejects_a_body_that_is_not_the_source_shape(tmp_path: Path) -> None:
    """A file that is not a Jira payload: exit 1 with the problem."""
    path = tmp_path / "p.json"
    path.write_text('{"hello": 1}')
    result = cli("translate", "--config", str(EXAMPLE), "--source", "jira", "--offline", str(path))
    assert result.returncode == 1
    assert json.loads(result.stdout)["outcome"] == "rejected"


def test_check_config_accepts_the_example_and_names_mistakes(tmp_path: Path) -> None:
    """check-config: the example is fine; a wrong priority is reported with its key path."""
    ok = cli("check-config", str(EXAMPLE))
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "adapter.yaml"
    text = EXAMPLE.read_text().replace("Highest: 3", "Highest: 7")
    broken.write_text(text)
    (tmp_path / "lookups").symlink_to(REPO / "examples" / "lookups")
    bad = cli("check-config", str(broken))
    assert bad.returncode == 1
    assert "sources.jira.priority_map.highest" in bad.stderr.lower()


def test_worker_sends_what_serve_stored(tmp_path: Path) -> None:
    """`bloxs-adapter worker` alone carries out deliveries that a dispatcher-less server
    accepted into the shared store."""
    with ServerThread(create_sandbox_app()) as sandbox:
        config = base_config(f"sqlite:///{tmp_path / 'store.db'}", sandbox.url)
        config["dispatcher"]["enabled"] = False
        path = write_config(tmp_path, config)
        settings = load_settings(path, os.environ)
        with ServerThread(create_app(settings)) as adapter:
            body = restamp(fixture_bytes("composed/jira_issue_created.json"))
            response = httpx.post(
                f"{adapter.url}/webhooks/jira",
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-hub-signature": jira_signature(body),
                },
            )
            assert response.status_code == 202
        time.sleep(0.3)
        assert httpx.get(f"{sandbox.url}/_sandbox/tickets").json() == []
        config["dispatcher"]["enabled"] = True
        path = write_config(tmp_path, config)
        worker = subprocess.Popen(
            [sys.executable, "-m", "adapter", "worker", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            tickets: list[Any] = []
            while time.monotonic() < deadline and not tickets:
                tickets = httpx.get(f"{sandbox.url}/_sandbox/tickets").json()
                time.sleep(0.1)
            assert [t["externalIdentifier"] for t in tickets] == ["FAC-217"]
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=10) == 0


@pytest.mark.slow
def test_demo_runs_the_quick_start(tmp_path: Path) -> None:
    """The README's run command: the adapter and the sandbox in one process; a signed Jira
    payload becomes a sandbox ticket."""
    port, sandbox_port = free_port(), free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapter",
            "demo",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--data",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        body = restamp(fixture_bytes("composed/jira_issue_created.json"))
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/jira",
            content=body,
            headers={"content-type": "application/json", "x-hub-signature": jira_signature(body)},
        )
        assert response.status_code == 202, response.text
        tickets: list[Any] = []
        while time.monotonic() < deadline + 10 and not tickets:
            tickets = httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/tickets").json()
            time.sleep(0.1)
        assert tickets[0]["externalIdentifier"] == "FAC-217"
        assert (tmp_path / "bloxs-adapter.db").exists()
    finally:
        demo.terminate()
        demo.wait(timeout=10)

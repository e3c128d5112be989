"""Known secrets fed through every path (webhook signatures and headers, the Bloxs key, secret
and token, the admin token) never appear in the process's output, an answer or an admin view.
The adapter runs as `bloxs-adapter serve`, logging JSON to stdout as in a container."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from adapter.bloxs.sandbox import SandboxConfig, create_sandbox_app
from tests.support.harness import (
    REPO,
    base_config,
    fixture_bytes,
    jira_signature,
    restamp,
    write_config,
)
from tests.support.server import ServerThread

JIRA_SECRET = "jira-secret-Zq81-do-not-print"
API_KEY = "bloxs-key-Hh27-do-not-print"
API_SECRET = "bloxs-secret-Kk55-do-not-print"
ADMIN_TOKEN = "admin-token-Pp93-do-not-print"
CREATED = "composed/jira_issue_created.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_secret_in_logs_answers_or_admin_views(tmp_path: Path) -> None:
    """Every answer and every log line (ours and uvicorn's, all JSON) is free of secrets, and
    of the reporter's name at info level."""
    sandbox_app = create_sandbox_app(SandboxConfig(api_key=API_KEY, api_secret=API_SECRET))
    with ServerThread(sandbox_app) as sandbox:
        config = base_config(f"sqlite:///{tmp_path / 'store.db'}", sandbox.url)
        config["bloxs"].update(api_key="${BLOXS_API_KEY}", api_secret="${BLOXS_API_SECRET}")
        config["sources"]["jira"]["secrets"] = ["${JIRA_SECRET}"]
        config["admin"] = {"token": "${ADMIN_TOKEN}"}
        path = write_config(tmp_path, config)
        port = free_port()
        env = {
            **os.environ,
            "BLOXS_API_KEY": API_KEY,
            "BLOXS_API_SECRET": API_SECRET,
            "JIRA_SECRET": JIRA_SECRET,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOG_LEVEL": "info",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "adapter", "serve", "--config", str(path), "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        answers: list[str] = []
        signatures: list[str] = []
        try:
            with httpx.Client(timeout=10) as http:
                for _ in range(200):
                    try:
                        http.get(f"{url}/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                answers += feed(http, url, signatures)
            tokens = list(sandbox_app.state.sandbox._tokens)
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
    assert tokens, "the adapter never obtained a Bloxs token"
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    assert "webhook" in events
    assert "bloxs.call" in events
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    everything = "\n".join([out, err, *answers])
    for secret in [JIRA_SECRET, API_KEY, API_SECRET, ADMIN_TOKEN, *tokens, *signatures]:
        assert secret not in everything, f"a secret ({secret[:6]}...) leaked"
    assert "Sanne" not in out + err


def feed(http: httpx.Client, url: str, signatures: list[str]) -> list[str]:
    """Every path a secret can take; the answers' texts."""
    answers = []
    body = restamp(fixture_bytes(CREATED))
    signature = jira_signature(body, JIRA_SECRET)
    signatures.append(signature.removeprefix("sha256="))
    headers = {
        "content-type": "application/json",
        "x-hub-signature": signature,
        "authorization": f"Bearer {ADMIN_TOKEN}",
        "cookie": f"session={API_SECRET}",
    }
    created = http.post(f"{url}/webhooks/jira", content=body, headers=headers)
    assert created.status_code == 202, created.text
    answers.append(created.text)
    delivery_id = created.json()["deliveryId"]
    # the secret itself as a signature, and as a token in the query
    for bad in ({"x-hub-signature": JIRA_SECRET}, {"x-hub-signature": f"sha256={JIRA_SECRET}"}):
        refused = http.post(
            f"{url}/webhooks/jira",
            content=body,
            headers={"content-type": "application/json", **bad},
            params={"token": ADMIN_TOKEN},
        )
        assert refused.status_code == 401
        answers.append(refused.text)
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    for _ in range(200):
        shown = http.get(f"{url}/admin/deliveries/{delivery_id}", headers=admin)
        if shown.json()["status"] == "done":
            break
        time.sleep(0.05)
    assert shown.json()["status"] == "done"
    answers.append(shown.text)
    assert "Sanne" not in shown.text
    wrong = http.get(f"{url}/admin/deliveries", headers={"authorization": f"Bearer {API_KEY}"})
    assert wrong.status_code == 401
    answers.append(wrong.text)
    for path in ("/admin/deliveries", "/admin/links/jira/FAC-217"):
        answers.append(http.get(f"{url}{path}", headers=admin).text)
    for path in ("/metrics", "/readyz", "/healthz"):
        answers.append(http.get(f"{url}{path}").text)
    return answers

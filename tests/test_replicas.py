"""Two adapter replicas sharing one PostgreSQL store: duplicates across replicas and
concurrent dispatchers still make exactly one Bloxs ticket per issue."""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from pathlib import Path

import httpx

from adapter.app import create_app
from adapter.bloxs.sandbox import create_sandbox_app
from adapter.config import load_settings
from tests.support.harness import (
    base_config,
    dumps,
    fixture_bytes,
    jira_signature,
    restamp,
    write_config,
)
from tests.support.server import ServerThread


def test_two_replicas_on_postgres_make_one_ticket_per_issue(
    tmp_path: Path, postgres_url: str
) -> None:
    """Twelve issues, each posted to both replicas at once: 12 deliveries, 12 tickets."""
    with ServerThread(create_sandbox_app()) as sandbox:
        config = base_config(postgres_url, sandbox.url)
        settings = load_settings(write_config(tmp_path, config), os.environ)
        with ServerThread(create_app(settings)) as a, ServerThread(create_app(settings)) as b:
            payload = json.loads(fixture_bytes("composed/jira_issue_created.json"))
            posts = []
            for n in range(12):
                payload["issue"]["key"] = f"FAC-{500 + n}"
                body = restamp(dumps(payload))
                headers = {
                    "content-type": "application/json",
                    "x-hub-signature": jira_signature(body),
                    "x-atlassian-webhook-identifier": f"replica-{n}",
                }
                posts += [(a.url, body, headers), (b.url, body, headers)]

            def send(args: tuple[str, bytes, dict[str, str]]) -> int:
                url, body, headers = args
                response = httpx.post(
                    f"{url}/webhooks/jira", content=body, headers=headers, timeout=30
                )
                return response.status_code

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(send, posts))
            assert codes.count(202) == 12, codes
            assert codes.count(200) == 12, codes
            tickets: list[dict[str, object]] = []
            end = time.monotonic() + 20
            while time.monotonic() < end:
                tickets = httpx.get(f"{sandbox.url}/_sandbox/tickets").json()
                if len(tickets) >= 12:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            tickets = httpx.get(f"{sandbox.url}/_sandbox/tickets").json()
            keys = sorted(str(t["externalIdentifier"]) for t in tickets)
            assert keys == [f"FAC-{500 + n}" for n in range(12)], keys

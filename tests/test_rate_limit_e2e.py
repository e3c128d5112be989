"""The promise that matters most to Bloxs's other users: the adapter never trips the
environment-wide rate limit, even when a burst of webhooks arrives at once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adapter.app import create_app
from adapter.bloxs.sandbox import SandboxConfig, create_sandbox_app
from adapter.config import load_settings
from tests.support.harness import (
    base_config,
    dumps,
    fixture_bytes,
    jira_signature,
    restamp,
    running,
    write_config,
)
from tests.support.server import ServerThread

LIMITS = {"update": 6, "filter": 6, "get": 12, "authorization": 3}


def test_burst_of_webhooks_with_budget_equal_to_bloxs_limit_gets_no_429(tmp_path: Path) -> None:
    """Bloxs (the sandbox) allows 6 updates, 12 GETs and 3 token requests per 1 s window and
    locks everyone out on the next one; the adapter's budget is the same numbers. Twenty
    issues posted at once, each a create plus a long-description note: every ticket arrives,
    and Bloxs never answered 429."""
    limits = {"update": 6, "filter": 6, "get": 12, "authorization": 3}
    sandbox = SandboxConfig(limits=dict(limits), window_seconds=1.0)

    def configure(c: dict[str, Any]) -> None:
        c["bloxs"]["budgets"] = {**limits, "window_seconds": 1.0, "margin_seconds": 0.2}
        c["dispatcher"]["concurrency"] = 8

    with running(tmp_path, sandbox_config=sandbox, configure=configure) as h:
        payload = json.loads(fixture_bytes("composed/jira_issue_created.json"))
        payload["issue"]["fields"]["description"] = "Lekkage. " * 80  # > 512: a note follows
        ids = []
        for n in range(20):
            payload["issue"]["key"] = f"FAC-{300 + n}"
            response = h.post_jira(dumps(payload), identifier=f"burst-{n}")
            assert response.status_code == 202
            ids.append(response.json()["deliveryId"])
        started = time.monotonic()
        for delivery_id in ids:
            h.wait_status(delivery_id, timeout=30)
        elapsed = time.monotonic() - started
        tickets = h.tickets()
        assert sorted(t["externalIdentifier"] for t in tickets) == [
            f"FAC-{300 + n}" for n in range(20)
        ]
        assert all(len(t["notes"]) == 1 for t in tickets)
        stats = h.stats()
        assert stats["rate_limited"] == 0, stats
        # 40 update calls at 6 per window take at least six windows: the budget did the pacing.
        assert stats["requests"]["update"] == 40
        assert elapsed > 5.0


def _two_replicas_burst(
    tmp_path: Path, postgres_url: str, shared: str, done: Callable[[dict[str, Any]], bool]
) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """Two adapter replicas on one PostgreSQL store, each with the budget equal to the sandbox's
    limits; twenty issues (create + note) posted alternately to both. Returns the sandbox's
    tickets and stats once `done(stats)` holds (or after 30 s), and the seconds it took."""
    sandbox_config = SandboxConfig(limits=dict(LIMITS), window_seconds=1.0)
    with ServerThread(create_sandbox_app(sandbox_config)) as sandbox:
        config = base_config(postgres_url, sandbox.url)
        config["bloxs"]["budgets"] = {
            **LIMITS,
            "window_seconds": 1.0,
            "margin_seconds": 0.2,
            "shared": shared,
        }
        config["dispatcher"]["concurrency"] = 8
        settings = load_settings(write_config(tmp_path, config), os.environ)
        with (
            ServerThread(create_app(settings)) as a,
            ServerThread(create_app(settings)) as b,
            httpx.Client(timeout=10) as http,
        ):
            payload = json.loads(fixture_bytes("composed/jira_issue_created.json"))
            payload["issue"]["fields"]["description"] = "Lekkage. " * 80  # > 512: a note follows
            for n in range(20):
                payload["issue"]["key"] = f"FAC-{700 + n}"
                body = restamp(dumps(payload))
                headers = {
                    "content-type": "application/json",
                    "x-hub-signature": jira_signature(body),
                    "x-atlassian-webhook-identifier": f"shared-{n}",
                }
                url = (a if n % 2 else b).url
                response = http.post(f"{url}/webhooks/jira", content=body, headers=headers)
                assert response.status_code == 202
            started = time.monotonic()
            deadline = started + 30
            while True:
                stats: dict[str, Any] = http.get(f"{sandbox.url}/_sandbox/stats").json()
                if done(stats) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            tickets: list[dict[str, Any]] = http.get(f"{sandbox.url}/_sandbox/tickets").json()
            return tickets, stats, elapsed


def test_two_replicas_on_postgres_share_one_budget_and_get_no_429(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two replicas, each configured with the full budget (= Bloxs's limit), share it through
    PostgreSQL: all twenty tickets with their notes arrive, and Bloxs never answered 429."""
    tickets, stats, elapsed = _two_replicas_burst(
        tmp_path,
        postgres_url,
        "auto",
        lambda s: s["requests"].get("update", 0) >= 40 or s["rate_limited"] > 0,
    )
    assert stats["rate_limited"] == 0, stats
    assert sorted(t["externalIdentifier"] for t in tickets) == [f"FAC-{700 + n}" for n in range(20)]
    assert all(len(t["notes"]) == 1 for t in tickets)
    assert stats["requests"]["update"] == 40
    # 40 update calls at 6 per window, across both replicas: at least six windows
    assert elapsed > 5.0


def test_two_replicas_with_a_budget_each_trip_the_limit(tmp_path: Path, postgres_url: str) -> None:
    """The same burst with `shared: never` (one budget per replica, each the full limit): the
    replicas together go over Bloxs's limit, which answers 429. The shared budget is what
    prevents it."""
    _, stats, _ = _two_replicas_burst(
        tmp_path, postgres_url, "never", lambda s: s["rate_limited"] > 0
    )
    assert stats["rate_limited"] > 0, stats

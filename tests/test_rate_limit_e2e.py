"""The promise that matters most to Bloxs's other users: the adapter never trips the
environment-wide rate limit, even when a burst of webhooks arrives at once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from adapter.bloxs.sandbox import SandboxConfig
from tests.support.harness import dumps, fixture_bytes, running


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

"""GET /metrics after a known sequence of webhooks, Bloxs calls and failures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from adapter.app import create_app
from adapter.events import Event
from adapter.metrics import Metrics
from adapter.settings import Settings
from tests.support.harness import Harness, dumps, fixture_bytes, restamp, running

CREATED = "composed/jira_issue_created.json"
UPDATED = "composed/jira_issue_updated_status_priority.json"
PARKS = "jira/mm-cloud-issue-created-custom-fields.json"


def scrape(h: Harness) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = h.http.get(f"{h.adapter.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    """Sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_after_a_known_sequence(tmp_path: Path) -> None:
    """Accepted, duplicate, rejected, unknown, ignored and parked webhooks are counted by
    outcome; the create's Bloxs calls, latency, token renewal and the store gauges agree."""
    with running(tmp_path) as h:
        created = h.post_jira(fixture_bytes(CREATED), identifier="c-1")
        assert created.status_code == 202
        h.wait_status(created.json()["deliveryId"])
        assert h.post_jira(fixture_bytes(CREATED), identifier="c-1").json()["duplicate"]
        unsigned = restamp(fixture_bytes(CREATED))
        assert h.post("jira", unsigned).status_code == 401
        assert h.post("nope", b"{}").status_code == 404
        ignored = json.loads(fixture_bytes(CREATED))
        ignored["webhookEvent"] = "worklog_created"
        assert h.post_jira(dumps(ignored)).json()["ignored"]
        parked = h.post_jira(fixture_bytes(PARKS), identifier="p-1").json()["deliveryId"]
        h.wait_status(parked, "parked")

        m = scrape(h)
        webhooks = "bloxs_adapter_webhooks_received_total"
        for outcome in ("accepted", "duplicate", "rejected", "ignored", "parked"):
            assert value(m, webhooks, source="jira", outcome=outcome) == 1, outcome
        assert value(m, webhooks, source="unknown", outcome="rejected") == 1
        assert total(m, webhooks) == 6
        latency = "bloxs_adapter_delivery_seconds_count"
        assert value(m, latency, source="jira", kind="create") == 1
        assert value(m, "bloxs_adapter_delivery_seconds_sum", source="jira", kind="create") > 0
        calls = "bloxs_adapter_bloxs_calls_total"
        assert value(m, calls, operation="create", status="200") == 1
        assert value(m, calls, operation="authorize", status="200") == 1
        assert total(m, "bloxs_adapter_bloxs_call_retries_total") == 0
        assert value(m, "bloxs_adapter_bloxs_token_renewals_total") == 1
        assert value(m, "bloxs_adapter_deliveries", status="parked", source="jira") == 1
        assert value(m, "bloxs_adapter_deliveries", status="pending", source="jira") == 0
        assert value(m, "bloxs_adapter_deliveries", status="failed", source="jira") == 0
        assert value(m, "bloxs_adapter_oldest_pending_age_seconds") == 0
        assert value(m, "bloxs_adapter_rate_budget_used", bucket="update") == 1
        assert value(m, "bloxs_adapter_rate_budget_used", bucket="authorization") == 1
        assert value(m, "bloxs_adapter_rate_budget_limit", bucket="update") == 80
        assert value(m, "bloxs_adapter_store_up") == 1
        attempts = "bloxs_adapter_delivery_attempts_total"
        assert value(m, attempts, source="jira", status="done") == 1
        # parked at intake (unknown object): the dispatcher never tried it
        assert value(m, attempts, source="jira", status="parked") == 0


def test_retries_are_counted(tmp_path: Path) -> None:
    """While Bloxs fails every request, each failed delivery attempt is one delivery retry and
    three Bloxs call retries (4 attempts per call); once Bloxs is back the update is done."""
    with running(tmp_path) as h:
        created = h.post_jira(fixture_bytes(CREATED), identifier="c-1").json()["deliveryId"]
        h.wait_status(created)
        h.faults(error_rate=1.0)
        updated = h.post_jira(fixture_bytes(UPDATED), identifier="u-1").json()["deliveryId"]
        h.wait_for(
            lambda: total(scrape(h), "bloxs_adapter_delivery_retries_total") >= 1,
            what="a delivery retry",
        )
        h.faults(error_rate=0.0)
        h.wait_status(updated)
        # The counters are bumped right after the store records the outcome: wait for them.
        attempts = "bloxs_adapter_delivery_attempts_total"
        h.wait_for(
            lambda: value(scrape(h), attempts, source="jira", status="done") == 2,
            what="the update's outcome to be counted",
        )
        m = scrape(h)
        retries = value(m, "bloxs_adapter_delivery_retries_total", source="jira")
        assert retries >= 1
        assert value(m, "bloxs_adapter_bloxs_call_retries_total", operation="get") >= 3 * retries
        failed_gets = sum(
            value(m, "bloxs_adapter_bloxs_calls_total", operation="get", status=s)
            for s in ("500", "503")
        )
        assert failed_gets >= 4 * retries
        assert value(m, attempts, source="jira", status="pending") == retries
        assert value(m, attempts, source="jira", status="done") == 2
        assert value(m, "bloxs_adapter_delivery_seconds_count", source="jira", kind="update") == 1


def test_pending_gauges_without_dispatcher(tmp_path: Path) -> None:
    """With nothing sending, the oldest pending delivery's age and the pending count show it;
    no Bloxs call, no token."""

    def config(c: dict[str, Any]) -> None:
        c["dispatcher"]["enabled"] = False

    with running(tmp_path, configure=config) as h:
        event = Event(kind="create", source="jira", delivery_key="k1", external_id="FAC-1")
        h.adapter_store().accept(event, body_sha256="x", now=time.time() - 120)
        m = scrape(h)
        assert value(m, "bloxs_adapter_deliveries", status="pending", source="jira") == 1
        assert 119 <= value(m, "bloxs_adapter_oldest_pending_age_seconds") < 180
        assert value(m, "bloxs_adapter_bloxs_token_renewals_total") == 0
        assert value(m, "bloxs_adapter_rate_budget_used", bucket="update") == 0


def test_each_app_has_its_own_registry() -> None:
    """Two apps (and two Metrics) in one process count separately and do not clash."""
    create_app(Settings())
    create_app(Settings())
    first, second = Metrics(), Metrics()
    first.webhook("jira", "accepted")
    assert b'outcome="accepted",source="jira"} 1.0' in first.render()
    assert b'outcome="accepted"' not in second.render()

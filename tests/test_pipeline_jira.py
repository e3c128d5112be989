"""Jira webhooks end to end: HTTP in, the store, the dispatcher, the Bloxs sandbox."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.bloxs.sandbox import Faults, SandboxConfig
from tests.support.harness import Harness, dumps, fixture_bytes, running

CREATED = "composed/jira_issue_created.json"
UPDATED = "composed/jira_issue_updated_status_priority.json"


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    with running(tmp_path) as h:
        yield h


def ticket_of(h: Harness, external_id: str) -> dict[str, Any]:
    matches = [t for t in h.tickets() if t["externalIdentifier"] == external_id]
    assert len(matches) == 1, f"{len(matches)} tickets for {external_id}"
    return matches[0]


def test_created_issue_becomes_a_ticket(harness: Harness) -> None:
    """jira:issue_created → 202 after storing, then one Bloxs ticket with every mapped field."""
    response = harness.post_jira(fixture_bytes(CREATED), identifier="id-created-1")
    assert response.status_code == 202
    delivery_id = response.json()["deliveryId"]
    assert response.json()["status"] == "pending"
    done = harness.wait_status(delivery_id)
    ticket = ticket_of(harness, "FAC-217")
    assert done.bloxs_reference == ticket["reference"]
    assert ticket["externalLink"] == "https://acme-facilities.atlassian.net/browse/FAC-217"
    assert ticket["realEstateObjectReference"] == "300003"
    assert ticket["reporterReference"] == "100002"
    assert ticket["reporterContactPersonType"] == 0
    assert ticket["reportingDate"] == "2025-03-14"
    assert ticket["stateName"] == "Nieuw"
    assert ticket["priority"] == 2
    assert ticket["description"].startswith("Leaking radiator valve in meeting room B2.14")
    assert "h3." not in ticket["description"]
    assert "*B2.14*" not in ticket["description"]


def test_update_posted_while_create_in_flight_lands_after_it(tmp_path: Path) -> None:
    """An update that arrives while its create is still being sent is applied after it."""
    slow = SandboxConfig(faults=Faults(latency_ms=400))
    with running(tmp_path, sandbox_config=slow) as h:
        first = h.post_jira(fixture_bytes(CREATED), identifier="c-1")
        second = h.post_jira(fixture_bytes(UPDATED), identifier="u-1")
        assert (first.status_code, second.status_code) == (202, 202)
        h.wait_status(second.json()["deliveryId"], timeout=20)
        ticket = ticket_of(h, "FAC-217")
        assert ticket["stateName"] == "In behandeling"
        assert ticket["priority"] == 3


def test_jira_lifecycle_fixtures(tmp_path: Path) -> None:
    """The recorded TES-41 lifecycle: created, priority raised, commented, resolved →
    one ticket, priority High, one note, closed in the Done state."""

    def config(c: dict[str, Any]) -> None:
        c["sources"]["jira"]["status_map"] = {}

    with running(tmp_path, configure=config) as h:
        ids = []
        for name in (
            "jira/mm-cloud-issue-created.json",
            "jira/mm-cloud-issue-updated-priority-raised.json",
            "jira/mm-cloud-comment-created.json",
            "jira/mm-cloud-issue-updated-status-resolved.json",
        ):
            response = h.post_jira(fixture_bytes(name))
            assert response.status_code == 202, (name, response.text)
            ids.append(response.json()["deliveryId"])
        for delivery_id in ids:
            h.wait_status(delivery_id)
        ticket = ticket_of(h, "TES-41")
        assert ticket["priority"] == 3
        assert ticket["stateName"] == "Gereed"
        assert ticket["reporterReference"] == "100003"
        assert ticket["realEstateObjectReference"] == "300002"
        assert len(ticket["notes"]) == 1
        assert ticket.get("closingDate")


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("jira/mm-cloud-issue-deleted.json", "ignored"),
        ("jira/mm-server-issue-assigned-mojibake-ja.json", "ignored"),
        ("jira/mm-server-issue-updated-commented.json", "parked"),
        ("jira/mm-cloud-issue-created-custom-fields.json", "parked"),
        ("jira/zulip-jira-server-issue-created-unicode.json", "done"),
    ],
)
def test_other_jira_fixtures(harness: Harness, name: str, outcome: str) -> None:
    """Each remaining recorded payload gets its expected outcome: ignored (nothing stored),
    parked with a reason, or a ticket."""
    response = harness.post_jira(fixture_bytes(name))
    if outcome == "ignored":
        assert response.status_code == 202
        assert response.json()["ignored"]
        assert harness.adapter_store().list() == []
        return
    assert response.status_code == 202, response.text
    delivery = harness.wait_status(response.json()["deliveryId"], outcome)
    if outcome == "parked":
        assert delivery.last_error
        assert harness.tickets() == []
    else:
        payload = json.loads(fixture_bytes(name))
        ticket = ticket_of(harness, payload["issue"]["key"])
        assert "à" in ticket["description"]


def test_reporting_date_is_the_amsterdam_date(harness: Harness) -> None:
    """An issue created 23:30 UTC on 3 December is reported on 4 December."""
    payload = json.loads(fixture_bytes(CREATED))
    payload["issue"]["fields"]["created"] = "2026-12-03T23:30:00.000+0000"
    response = harness.post_jira(dumps(payload), identifier="late-evening")
    harness.wait_status(response.json()["deliveryId"])
    assert ticket_of(harness, "FAC-217")["reportingDate"] == "2026-12-04"


def test_duplicate_delivery_answers_200_and_stores_nothing_new(harness: Harness) -> None:
    """A sender retry (same X-Atlassian-Webhook-Identifier) is 200 duplicate, one ticket."""
    body = fixture_bytes(CREATED)
    first = harness.post_jira(body, identifier="same-id")
    second = harness.post_jira(body, identifier="same-id")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"deliveryId": first.json()["deliveryId"], "duplicate": True}
    harness.wait_status(first.json()["deliveryId"])
    assert len(harness.adapter_store().list()) == 1
    ticket_of(harness, "FAC-217")


def test_concurrent_duplicates_make_one_delivery_and_one_ticket(harness: Harness) -> None:
    """Ten simultaneous copies of one delivery: one 202, nine 200, one ticket."""
    body = fixture_bytes(CREATED)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: harness.post_jira(body, "dup-race"), range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [202]
    assert len({r.json()["deliveryId"] for r in responses}) == 1
    harness.wait_status(responses[0].json()["deliveryId"])
    ticket_of(harness, "FAC-217")


def test_commit_then_drop_never_duplicates(tmp_path: Path) -> None:
    """With Bloxs dropping half the connections after committing, eight issues still make
    exactly eight tickets."""
    flaky = SandboxConfig(faults=Faults(drop_after_commit=0.5, seed=7))
    with running(tmp_path, sandbox_config=flaky) as h:
        payload = json.loads(fixture_bytes(CREATED))
        ids = []
        for n in range(8):
            payload["issue"]["key"] = f"FAC-{900 + n}"
            ids.append(h.post_jira(dumps(payload), identifier=f"drop-{n}").json()["deliveryId"])
        for delivery_id in ids:
            h.wait_status(delivery_id, timeout=30)
        keys = sorted(t["externalIdentifier"] for t in h.tickets())
        assert keys == [f"FAC-{900 + n}" for n in range(8)]
        assert h.stats()["faults"]["drops"] > 0


def test_parked_for_missing_object_goes_through_after_fix_and_replay(harness: Harness) -> None:
    """Unknown object key → 202 parked with the key named; fix the table, replay from the
    CLI, and the ticket is made."""
    payload = json.loads(fixture_bytes(CREATED))
    payload["issue"]["fields"]["customfield_10045"]["value"] = "Building Z"
    response = harness.post_jira(dumps(payload), identifier="parked-1")
    assert response.status_code == 202
    assert response.json()["status"] == "parked"
    assert "Building Z" in response.json()["reason"]
    assert harness.tickets() == []
    objects = harness.directory / "objects.csv"
    objects.write_text(objects.read_text() + "building  z,300011,Kerkstraat 5B\n")
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapter",
            "deliveries",
            "replay",
            "--parked",
            "--config",
            str(harness.directory / "adapter.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "1 parked" in cli.stdout
    harness.wait_status(response.json()["deliveryId"])
    assert ticket_of(harness, "FAC-217")["realEstateObjectReference"] == "300011"


def test_note_for_unknown_ticket_is_parked_then_created_with_missing_ticket_create(
    tmp_path: Path,
) -> None:
    """missing_ticket: create makes the ticket from an update that arrives first."""

    def config(c: dict[str, Any]) -> None:
        c["sources"]["jira"]["missing_ticket"] = "create"

    with running(tmp_path, configure=config) as h:
        response = h.post_jira(fixture_bytes(UPDATED), identifier="upd-first")
        h.wait_status(response.json()["deliveryId"])
        ticket = ticket_of(h, "FAC-217")
        assert ticket["stateName"] == "In behandeling"

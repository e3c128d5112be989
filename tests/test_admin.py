"""The admin API over real HTTP: auth, listing and paging, one delivery, replay, cancel, ticket
links, lookup reload; every answer checked against the published OpenAPI document."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from adapter.events import Event, Person
from tests.support.harness import Harness, fixture_bytes, running

ADMIN_TOKEN = "admin-token-for-tests-7f3a"
OPENAPI = Path(__file__).resolve().parent.parent / "schemas" / "openapi.json"
CREATED = "composed/jira_issue_created.json"
PARKS = "jira/mm-cloud-issue-created-custom-fields.json"


def with_admin(c: dict[str, Any]) -> None:
    c["admin"] = {"token": "${ADMIN_TOKEN:-}"}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with running(tmp_path, configure=with_admin, environ={"ADMIN_TOKEN": ADMIN_TOKEN}) as h:
        yield h


def conforms(body: Any, component: str) -> None:
    """`body` is valid against components/schemas/<component> of schemas/openapi.json."""
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    schema = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    Draft202012Validator(schema).validate(body)


def admin(
    h: Harness, method: str, path: str, token: str | None = ADMIN_TOKEN, **kwargs: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return h.http.request(method, f"{h.adapter.url}/admin{path}", headers=headers, **kwargs)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    conforms(body, "Problem")
    return body


def stored(h: Harness, n: int, *, external_id: str = "FAC-1", when: float = 1000.0) -> list[str]:
    ids = []
    for i in range(n):
        event = Event(
            kind="create",
            source="jira",
            delivery_key=f"key-{external_id}-{i}",
            external_id=external_id,
            reporter=Person(email="tenant@example.com"),
        )
        accepted = h.adapter_store().accept(
            event, body_sha256="x", now=when + i, parked_reason="object unknown"
        )
        ids.append(accepted.delivery_id)
    return ids


def test_admin_api_is_404_without_a_token(tmp_path: Path) -> None:
    """No admin token configured: every /admin path is 404, whatever is sent."""
    with running(tmp_path, configure=with_admin, environ={}) as h:
        for path in ("/deliveries", "/lookups/reload", "/nothing/here"):
            problem(admin(h, "GET", path), 404)
            problem(admin(h, "GET", path, token=None), 404)


def test_admin_auth_none_wrong_right(harness: Harness) -> None:
    """No token and a wrong token are 401 with WWW-Authenticate; the right one is 200."""
    missing = admin(harness, "GET", "/deliveries", token=None)
    problem(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = admin(harness, "GET", "/deliveries", token=ADMIN_TOKEN + "x")
    problem(wrong, 401)
    assert ADMIN_TOKEN not in wrong.text
    basic = harness.http.get(
        f"{harness.adapter.url}/admin/deliveries", headers={"authorization": "Basic " + "eA=="}
    )
    problem(basic, 401)
    right = admin(harness, "GET", "/deliveries")
    assert right.status_code == 200
    assert right.json() == {"items": [], "next": None}
    problem(admin(harness, "GET", "/no-such-endpoint"), 404)
    problem(admin(harness, "GET", "/no-such-endpoint", token=None), 401)


def test_list_filters_and_pages(harness: Harness) -> None:
    """Newest first, paged through `next`, filtered by status, source, external id and time."""
    ids = stored(harness, 5, external_id="FAC-1") + stored(harness, 2, external_id="FAC-2")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = admin(harness, "GET", "/deliveries", params=params).json()
        conforms(page, "DeliveryPage")
        seen += [d["deliveryId"] for d in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3

    def listed(**params: str) -> list[str]:
        response = admin(harness, "GET", "/deliveries", params=params)
        assert response.status_code == 200, response.text
        return [d["deliveryId"] for d in response.json()["items"]]

    assert listed(external_id="FAC-2") == list(reversed(ids[5:]))
    assert listed(status="parked", source="jira") == list(reversed(ids))
    assert listed(status="done") == []
    assert listed(source="other") == []
    assert listed(since="1003", until="1005") == [ids[4], ids[3]]
    assert listed(since="1970-01-01T00:16:43+00:00", until="1970-01-01T00:16:45") == [
        ids[4],
        ids[3],
    ]
    problem(admin(harness, "GET", "/deliveries", params={"status": "lost"}), 400)
    problem(admin(harness, "GET", "/deliveries", params={"since": "yesterday"}), 400)
    problem(admin(harness, "GET", "/deliveries", params={"limit": "0"}), 400)
    problem(admin(harness, "GET", "/deliveries", params={"cursor": "abc"}), 400)


def test_show_delivery_with_attempts_and_redacted_request(harness: Harness) -> None:
    """One done delivery: its attempts, outcome and Bloxs request, personal fields redacted."""
    response = harness.post_jira(fixture_bytes(CREATED), identifier="show-1")
    delivery_id = response.json()["deliveryId"]
    harness.wait_status(delivery_id)
    shown = admin(harness, "GET", f"/deliveries/{delivery_id}")
    assert shown.status_code == 200
    body = shown.json()
    conforms(body, "DeliveryDetail")
    assert body["status"] == "done"
    assert body["requestId"]
    [attempt] = body["attempts"]
    assert attempt["outcome"] == "created"
    create = attempt["requests"][0]
    assert create["operation"] == "create"
    assert create["body"]["description"] == "[personal data]"
    assert create["body"]["externalIdentifier"] == "FAC-217"
    # the reporter resolves through the table, so her name is nowhere in the request
    assert "Sanne" not in shown.text
    assert body["summary"].endswith("Leaking radiator valve in meeting room B2.14")
    problem(admin(harness, "GET", "/deliveries/dlv_nope"), 404)


def test_replay_cancel_and_replay_parked(harness: Harness) -> None:
    """Replay and cancel answer by state (404 unknown, 409 not possible) and requeue."""
    first, second, third = stored(harness, 3, when=time.time())
    replayed = admin(harness, "POST", f"/deliveries/{first}/replay")
    assert replayed.status_code == 200
    conforms(replayed.json(), "Replayed")
    assert replayed.json() == {"deliveryId": first, "status": "pending"}
    # the dispatcher takes it again; the object is still unknown, so it parks again
    again = harness.wait_status(first, "parked")
    assert again.attempts == 1
    cancelled = admin(harness, "POST", f"/deliveries/{second}/cancel")
    assert cancelled.json() == {"deliveryId": second, "status": "cancelled"}
    problem(admin(harness, "POST", f"/deliveries/{second}/cancel"), 409)
    problem(admin(harness, "POST", "/deliveries/dlv_nope/cancel"), 404)
    problem(admin(harness, "POST", "/deliveries/dlv_nope/replay"), 404)
    bulk = admin(harness, "POST", "/sources/jira/replay-parked")
    conforms(bulk.json(), "ReplayedParked")
    assert bulk.json() == {"source": "jira", "replayed": 2}
    assert admin(harness, "POST", "/sources/other/replay-parked").json()["replayed"] == 0
    assert harness.delivery(second).status == "cancelled"
    harness.wait_status(third, "parked")
    done = harness.post_jira(fixture_bytes(CREATED), identifier="replay-done").json()
    harness.wait_status(done["deliveryId"])
    conflict = problem(admin(harness, "POST", f"/deliveries/{done['deliveryId']}/replay"), 409)
    assert "done" in conflict["detail"]


def test_ticket_link_and_lookup_reload(harness: Harness) -> None:
    """The link of an external id once its ticket exists; reloading good and bad tables."""
    problem(admin(harness, "GET", "/links/jira/FAC-217"), 404)
    delivery_id = harness.post_jira(fixture_bytes(CREATED), identifier="l-1").json()["deliveryId"]
    done = harness.wait_status(delivery_id)
    link = admin(harness, "GET", "/links/jira/FAC-217")
    conforms(link.json(), "Link")
    assert link.json() == {
        "source": "jira",
        "externalId": "FAC-217",
        "reference": done.bloxs_reference,
    }

    reloaded = admin(harness, "POST", "/lookups/reload")
    conforms(reloaded.json(), "LookupsReloaded")
    version = reloaded.json()["version"]
    objects = harness.directory / "objects.csv"
    good = objects.read_text(encoding="utf-8")
    objects.write_text("key,reference\nLL12,300001\nLL12,300002\n", encoding="utf-8")
    refused = problem(admin(harness, "POST", "/lookups/reload"), 422)
    assert refused["errors"]
    assert harness.http.get(f"{harness.adapter.url}/readyz").status_code == 503
    objects.write_text(good + "NEW,300099\n", encoding="utf-8")
    assert admin(harness, "POST", "/lookups/reload").json()["version"] != version
    assert harness.http.get(f"{harness.adapter.url}/readyz").status_code == 200


def test_parked_delivery_replayed_after_fix_is_done(harness: Harness) -> None:
    """The operator's loop: parked for an unknown object, table fixed, replayed, ticket made."""
    response = harness.post_jira(fixture_bytes(PARKS), identifier="fix-1")
    delivery_id = response.json()["deliveryId"]
    parked = harness.wait_status(delivery_id, "parked")
    listed = admin(harness, "GET", "/deliveries", params={"status": "parked"}).json()
    assert [d["deliveryId"] for d in listed["items"]] == [delivery_id]
    assert listed["items"][0]["lastError"] == parked.last_error
    assert parked.last_error

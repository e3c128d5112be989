"""The Bloxs sandbox over real HTTP: auth, tickets, validation, lists, limits, faults, control."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from adapter.bloxs.sandbox import Faults, SandboxConfig, create_sandbox_app
from adapter.bloxs.sandbox_seed import (
    SEED_COST_CATEGORIES,
    SEED_OBJECTS,
    SEED_PROBLEM_CATEGORIES,
    SEED_RELATIONS,
    SEED_STATES,
    SEED_SUPPLIERS,
)
from tests.support.server import ServerThread

TICKETS = "/api/v1/maintenance/servicetickets"
CREDENTIALS = {"apiKey": "sandbox-api-key", "apiSecret": "sandbox-api-secret"}


@dataclass
class Bloxs:
    server: ServerThread
    http: httpx.Client
    token: str = ""

    def login(self) -> str:
        response = self.http.post("/Authorization", json=CREDENTIALS)
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        return self.token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self.token:
            self.login()
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def create(self, **overrides: Any) -> dict[str, Any]:
        response = self.api("POST", TICKETS, json=ticket(**overrides))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/_sandbox/{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


def ticket(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalIdentifier": "JIRA-1",
        "reportingDate": "2025-05-09",
        "stateName": "Nieuw",
        "priority": 2,
        "problemCategoryName": "Loodgieterswerk",
        "costCategoryName": "Reparatie",
        "description": "Lekkende kraan in de keuken",
        "realEstateObjectReference": "300001",
        "reporterReference": "100002",
        "supplierReference": "200003",
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Bloxs]]:
    started: list[Bloxs] = []

    def make(**config: Any) -> Bloxs:
        server = ServerThread(create_sandbox_app(SandboxConfig(**config))).start()
        sandbox = Bloxs(server, httpx.Client(base_url=server.url, timeout=5))
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.http.close()
        sandbox.server.stop()


@pytest.fixture
def bloxs(make_sandbox: Callable[..., Bloxs]) -> Bloxs:
    return make_sandbox()


def wait_for_window_start(window: float) -> None:
    time.sleep(math.ceil(time.time() / window) * window - time.time() + 0.02)


# --- auth -----------------------------------------------------------------------------


def test_authorization_issues_a_token_for_a_day(bloxs: Bloxs) -> None:
    """The default key and secret get a token that expires in 24 h and opens the API."""
    response = bloxs.http.post("/Authorization", json=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    expiration = datetime.fromisoformat(body["expiration"])
    assert expiration.utcoffset() == timedelta(0)
    assert abs(expiration - datetime.now(UTC) - timedelta(days=1)) < timedelta(minutes=1)
    bloxs.token = body["token"]
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 200


def test_authorization_refuses_wrong_and_missing_credentials(bloxs: Bloxs) -> None:
    """A wrong secret and a missing key are 400 problem details, and no token is issued."""
    wrong = bloxs.http.post("/Authorization", json={**CREDENTIALS, "apiSecret": "nope"})
    assert wrong.status_code == 400
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert "token" not in wrong.json()
    assert wrong.json()["traceId"]
    missing = bloxs.http.post("/Authorization", json={"apiSecret": "sandbox-api-secret"})
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"apiKey": ["The apiKey field is required."]}
    assert bloxs.control("GET", "stats")["tokens_issued"] == 0


def test_api_needs_a_bearer_token(bloxs: Bloxs) -> None:
    """No token and an unknown token are both 401 with a problem body."""
    assert bloxs.http.get(f"{TICKETS}/states").status_code == 401
    bloxs.token = "made-up"
    response = bloxs.api("GET", f"{TICKETS}/states")
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert "made-up" not in response.text


def test_expired_token_is_refused(make_sandbox: Callable[..., Bloxs]) -> None:
    """A token is refused with 401 once its lifetime has passed."""
    bloxs = make_sandbox(token_lifetime_seconds=0.3)
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 200
    time.sleep(0.4)
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 401


# --- tickets ----------------------------------------------------------------------------


def test_create_then_get_by_reference_and_external_identifier(bloxs: Bloxs) -> None:
    """Create answers the ticket with a generated reference; both identifiers find it."""
    created = bloxs.create()
    assert created["reference"] == "ST000001"
    assert created["mandateAmount"] is None
    assert created["description"] == "Lekkende kraan in de keuken"
    by_ref = bloxs.api("GET", TICKETS, params={"reference": "ST000001"})
    by_ext = bloxs.api("GET", TICKETS, params={"externalIdentifier": "JIRA-1"})
    both = bloxs.api(
        "GET", TICKETS, params={"reference": "ST000001", "externalIdentifier": "JIRA-1"}
    )
    assert by_ref.json() == by_ext.json() == both.json() == created


def test_get_needs_one_matching_identifier(bloxs: Bloxs) -> None:
    """No identifier or two that disagree is 400; an unknown one is 404 problem details."""
    bloxs.create()
    bloxs.create(externalIdentifier="JIRA-2")
    assert bloxs.api("GET", TICKETS).status_code == 400
    clash = bloxs.api(
        "GET", TICKETS, params={"reference": "ST000001", "externalIdentifier": "JIRA-2"}
    )
    assert clash.status_code == 400
    absent = bloxs.api("GET", TICKETS, params={"externalIdentifier": "JIRA-9"})
    assert absent.status_code == 404
    assert absent.json()["title"] == "Not Found"
    assert absent.json()["errors"]["externalIdentifier"]


def test_create_names_every_unknown_reference_and_name(bloxs: Bloxs) -> None:
    """Unknown relation, contact, object, supplier, state and categories all fail together."""
    body = ticket(
        reporterReference="999",
        reporterContactPersonReference="998",
        realEstateObjectReference="399999",
        supplierReference="100001",
        stateName="Open",
        problemCategoryName="Elektriciteit",
        costCategoryName="Onbekend",
    )
    response = bloxs.api("POST", TICKETS, json=body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["status"] == 400
    assert problem["traceId"]
    assert problem["type"]
    assert problem["errors"] == {
        "reporterReference": ["Relation '999' does not exist."],
        "reporterContactPersonReference": ["Relation '998' does not exist."],
        "realEstateObjectReference": ["Real estate object '399999' does not exist."],
        "supplierReference": ["Supplier '100001' does not exist."],
        "stateName": ["Service ticket state 'Open' does not exist."],
        "problemCategoryName": ["Problem category 'Elektriciteit' does not exist."],
        "costCategoryName": ["Cost category 'Onbekend' does not exist."],
    }
    assert bloxs.control("GET", "stats")["tickets"] == 0


def test_create_names_every_contract_violation(bloxs: Bloxs) -> None:
    """Missing, too long, out-of-range, mistyped and unknown fields are each named."""
    body = ticket(description="", externalLink="x" * 257, priority=5, handledBySupplier="true")
    del body["reportingDate"]
    body["costsCategoryName"] = "Reparatie"
    errors = bloxs.api("POST", TICKETS, json=body).json()["errors"]
    assert errors["description"] == ["The description field is required."]
    assert errors["reportingDate"] == ["The reportingDate field is required."]
    assert errors["externalLink"] == [
        "The field externalLink must be a string with a maximum length of 256."
    ]
    assert errors["priority"] == ["The field priority must be one of 1, 2, 3."]
    assert "System.Boolean" in errors["handledBySupplier"][0]
    assert "costsCategoryName" in errors
    assert len(errors) == 6


def test_references_are_never_reused(bloxs: Bloxs) -> None:
    """References count up per environment and keep counting after a reset."""
    assert bloxs.create()["reference"] == "ST000001"
    assert bloxs.create(externalIdentifier="JIRA-2")["reference"] == "ST000002"
    bloxs.control("POST", "reset")
    assert bloxs.create()["reference"] == "ST000003"


def test_duplicate_external_identifier(make_sandbox: Callable[..., Bloxs]) -> None:
    """Duplicates are kept by default (get returns the first); the strict switch refuses them."""
    lenient = make_sandbox()
    lenient.create(description="eerste")
    lenient.create(description="tweede")
    found = lenient.api("GET", TICKETS, params={"externalIdentifier": "JIRA-1"}).json()
    assert found["description"] == "eerste"
    strict = make_sandbox(unique_external_identifier=True)
    strict.create()
    again = strict.api("POST", TICKETS, json=ticket())
    assert again.status_code == 400
    assert list(again.json()["errors"]) == ["externalIdentifier"]


def test_put_overwrites_the_whole_ticket(bloxs: Bloxs) -> None:
    """PUT replaces every field (left-out ones are cleared) and is checked like a create."""
    bloxs.create()
    update = ticket(reference="ST000001", description="Kraan vervangen", stateName="In behandeling")
    del update["supplierReference"]
    response = bloxs.api("PUT", TICKETS, json=update)
    assert response.status_code == 200
    assert response.json()["supplierReference"] is None
    stored = bloxs.api("GET", TICKETS, params={"reference": "ST000001"}).json()
    assert stored == response.json()
    assert stored["description"] == "Kraan vervangen"
    assert stored["reference"] == "ST000001"
    assert bloxs.api("PUT", TICKETS, json={**update, "stateName": "Open"}).status_code == 400
    unknown = {**update, "reference": "ST000042", "externalIdentifier": "JIRA-42"}
    absent = bloxs.api("PUT", TICKETS, json=unknown)
    assert absent.status_code == 404


def test_done_sets_the_done_state_and_closing_date(bloxs: Bloxs) -> None:
    """Done moves the ticket to the first state with systemState 4 and records closingDate."""
    bloxs.create()
    body = {"externalIdentifier": "JIRA-1", "closingDate": "2025-05-12T14:00:00+02:00"}
    response = bloxs.api("POST", f"{TICKETS}/done", json=body)
    assert response.status_code == 200
    assert response.json()["stateName"] == "Gereed"
    [stored] = bloxs.control("GET", "tickets")
    assert stored["closingDate"] == "2025-05-12T14:00:00+02:00"
    assert bloxs.api("POST", f"{TICKETS}/done", json={"reference": "ST9"}).status_code == 404
    assert bloxs.api("POST", f"{TICKETS}/done", json={}).status_code == 400


def test_notes_are_kept_per_ticket(bloxs: Bloxs) -> None:
    """A note echoes its ticket's identifiers; an unknown ticket is 404, an empty note 400."""
    bloxs.create()
    response = bloxs.api(
        "POST", f"{TICKETS}/notes", json={"reference": "ST000001", "message": "Hoi"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "reference": "ST000001",
        "externalIdentifier": "JIRA-1",
        "message": "Hoi",
    }
    absent = bloxs.api("POST", f"{TICKETS}/notes", json={"reference": "ST9", "message": "Hoi"})
    assert absent.status_code == 404
    assert absent.json()["errors"]["reference"]
    empty = bloxs.api("POST", f"{TICKETS}/notes", json={"reference": "ST000001", "message": ""})
    assert empty.status_code == 400
    assert list(empty.json()["errors"]) == ["message"]
    [stored] = bloxs.control("GET", "tickets")
    assert [n["message"] for n in stored["notes"]] == ["Hoi"]
    assert bloxs.control("GET", "stats")["notes"] == 1


def test_lists_answer_the_seed(make_sandbox: Callable[..., Bloxs]) -> None:
    """States, cost and problem categories are the seed; problem categories can be switched off."""
    bloxs = make_sandbox()
    states = bloxs.api("GET", f"{TICKETS}/states").json()
    assert states == [{"name": s.name, "systemState": s.system_state} for s in SEED_STATES]
    costs = bloxs.api("GET", f"{TICKETS}/costscategories").json()
    assert costs == [{"name": n} for n in SEED_COST_CATEGORIES]
    problems = bloxs.api("GET", f"{TICKETS}/problemcategories").json()
    assert problems == [{"name": n} for n in SEED_PROBLEM_CATEGORIES]
    without = make_sandbox(problem_categories=False)
    assert without.api("GET", f"{TICKETS}/problemcategories").status_code == 404


def test_filter_pages_and_filters(bloxs: Bloxs) -> None:
    """The filter answers a page of matching tickets, pageNumber counting from 1."""
    for n in range(5):
        bloxs.create(externalIdentifier=f"J-{n}", stateName="Nieuw" if n % 2 else "Gereed")
    page = {"paging": {"pageSize": 2, "pageNumber": 2}}
    second = bloxs.api("POST", f"{TICKETS}/filter", json=page).json()
    assert [t["externalIdentifier"] for t in second] == ["J-2", "J-3"]
    new = bloxs.api("POST", f"{TICKETS}/filter", json={"stateName": "Nieuw"}).json()
    assert [t["externalIdentifier"] for t in new] == ["J-1", "J-3"]
    bad = bloxs.api("POST", f"{TICKETS}/filter", json={"paging": {"pageSize": 0}})
    assert bad.status_code == 400
    assert bloxs.control("GET", "stats")["requests"]["filter"] == 3


def test_seed_endpoint_lists_the_seed_constants(bloxs: Bloxs) -> None:
    """GET /_sandbox/seed shows the same records as the module constants, without auth."""
    seed = bloxs.control("GET", "seed")
    assert [r["reference"] for r in seed["relations"]] == [r.reference for r in SEED_RELATIONS]
    assert [s["reference"] for s in seed["suppliers"]] == [s.reference for s in SEED_SUPPLIERS]
    assert [o["code"] for o in seed["objects"]] == [o.code for o in SEED_OBJECTS]
    assert seed["states"][4] == {"name": "Gereed", "systemState": 4}
    assert [c["name"] for c in seed["problem_categories"]] == list(SEED_PROBLEM_CATEGORIES)


# --- rate limits ------------------------------------------------------------------------


def test_exceeding_a_limit_locks_the_whole_environment(make_sandbox: Callable[..., Bloxs]) -> None:
    """The 4th update of 3 allowed is 429, so is a GET after it; the next window is open."""
    limits = {"update": 3, "filter": 3, "get": 3, "authorization": 3}
    bloxs = make_sandbox(limits=limits, window_seconds=1.0)
    bloxs.login()
    wait_for_window_start(1.0)
    statuses = [bloxs.api("POST", TICKETS, json=ticket()).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    locked = bloxs.api("GET", f"{TICKETS}/states")
    assert locked.status_code == 429
    assert locked.json()["status"] == 429
    assert bloxs.http.post("/Authorization", json=CREDENTIALS).status_code == 429
    stats = bloxs.control("GET", "stats")
    assert stats["rate_limited"] == 3
    assert stats["tickets"] == 3
    wait_for_window_start(1.0)
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 200


def test_reset_lifts_a_lockout_and_keeps_tokens(make_sandbox: Callable[..., Bloxs]) -> None:
    """Reset clears tickets, counters and the lockout; an issued token still works."""
    bloxs = make_sandbox(limits={"get": 1}, window_seconds=60.0)
    bloxs.create()
    bloxs.api("GET", f"{TICKETS}/states")
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 429
    stats = bloxs.control("POST", "reset")
    assert stats == {
        "requests": {"authorization": 0, "update": 0, "filter": 0, "get": 0},
        "rate_limited": 0,
        "faults": {"errors": 0, "drops": 0},
        "tickets": 0,
        "notes": 0,
        "tokens_issued": 0,
    }
    assert bloxs.control("GET", "tickets") == []
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 200


# --- faults -----------------------------------------------------------------------------


def test_error_rate_answers_500_and_503_without_acting(make_sandbox: Callable[..., Bloxs]) -> None:
    """With error_rate 1 every API call fails, alternating 500 and 503, and nothing is created."""
    bloxs = make_sandbox(faults=Faults(error_rate=1.0))
    statuses = [bloxs.api("POST", TICKETS, json=ticket()).status_code for _ in range(3)]
    assert statuses == [500, 503, 500]
    stats = bloxs.control("GET", "stats")
    assert stats["tickets"] == 0
    assert stats["faults"]["errors"] == 3


def test_seeded_error_pattern_repeats(bloxs: Bloxs) -> None:
    """The same seed gives the same pattern of failures."""

    def pattern() -> list[int]:
        bloxs.control("PUT", "faults", json={"error_rate": 0.5, "seed": 7})
        return [bloxs.api("GET", f"{TICKETS}/states").status_code for _ in range(12)]

    first = pattern()
    assert first == pattern()
    assert 200 in first
    assert {500, 503} <= set(first)


def test_latency_delays_api_calls_only(make_sandbox: Callable[..., Bloxs]) -> None:
    """Latency is added to /Authorization and /api calls, not to control endpoints."""
    bloxs = make_sandbox(faults=Faults(latency_ms=250))
    started = time.perf_counter()
    bloxs.login()
    bloxs.api("GET", f"{TICKETS}/states")
    assert time.perf_counter() - started >= 0.5
    started = time.perf_counter()
    bloxs.control("GET", "stats")
    assert time.perf_counter() - started < 0.2


def test_drop_after_commit_loses_the_answer_not_the_ticket(
    make_sandbox: Callable[..., Bloxs],
) -> None:
    """The client gets a transport error but the ticket was created; refused writes answer."""
    bloxs = make_sandbox(faults=Faults(drop_after_commit=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        bloxs.api("POST", TICKETS, json=ticket())
    [stored] = bloxs.control("GET", "tickets")
    assert stored["externalIdentifier"] == "JIRA-1"
    refused = bloxs.api("POST", TICKETS, json=ticket(stateName="Open"))
    assert refused.status_code == 400
    assert bloxs.api("GET", TICKETS, params={"reference": "ST000001"}).status_code == 200
    assert bloxs.control("GET", "stats")["faults"]["drops"] == 1


def test_faults_can_be_changed_at_runtime(bloxs: Bloxs) -> None:
    """PUT /_sandbox/faults changes only the given knobs and refuses invalid values."""
    assert bloxs.control("GET", "faults") == {
        "error_rate": 0.0,
        "latency_ms": 0.0,
        "drop_after_commit": 0.0,
        "seed": None,
    }
    changed = bloxs.control("PUT", "faults", json={"error_rate": 1})
    assert changed["error_rate"] == 1
    assert changed["latency_ms"] == 0.0
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 500
    invalid = bloxs.http.put("/_sandbox/faults", json={"error_rate": 2, "latency": 5})
    assert invalid.status_code == 400
    assert set(invalid.json()["errors"]) == {"error_rate", "latency"}
    bloxs.control("PUT", "faults", json={"error_rate": 0})
    assert bloxs.api("GET", f"{TICKETS}/states").status_code == 200


def test_one_log_line_per_request_without_the_token(bloxs: Bloxs) -> None:
    """Every API request logs one debug line with its bucket and status, never the token."""
    token = bloxs.login()
    with capture_logs() as logs:
        bloxs.api("GET", f"{TICKETS}/states")
    [line] = [e for e in logs if e["event"] == "bloxs_sandbox_request"]
    assert line["path"] == f"{TICKETS}/states"
    assert line["log_level"] == "debug"
    assert (line["bucket"], line["status"], line["outcome"]) == ("get", 200, "answered")
    assert token not in repr(logs)

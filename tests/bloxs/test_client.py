"""The Bloxs client against the sandbox over real HTTP on 127.0.0.1.

A few Bloxs behaviours the sandbox does not produce (a Retry-After header, a gateway's HTML
502, a 403) are played by httpx.MockTransport standing in for Bloxs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from adapter.bloxs.client import BloxsClient
from adapter.bloxs.contract import ContractViolation, ticket_to_update
from adapter.bloxs.errors import (
    BloxsAuthError,
    BloxsForbidden,
    BloxsUnavailable,
    BloxsValidationError,
)
from adapter.bloxs.sandbox import Faults, Sandbox, SandboxConfig, create_sandbox_app
from adapter.settings import BloxsSettings, RateBudgets, RetryPolicy, Secret
from tests.support.server import ServerThread

API_KEY = "sandbox-api-key"
API_SECRET = "sandbox-api-secret"
DESCRIPTION = "Lekkage onder het bad bij Jan Klaassen, jan@example.test"
# Far above what any test sends: the tests about budgets set their own.
ROOMY_LIMITS = {"update": 1000, "filter": 1000, "get": 1000, "authorization": 100}
ROOMY_BUDGET = RateBudgets(
    update=1000, filter=1000, get=1000, authorization=100, window_seconds=1.0, margin_seconds=0.1
)


class Bloxs:
    """A running sandbox and its control endpoints."""

    def __init__(self, server: ServerThread, sandbox: Sandbox) -> None:
        self.server = server
        self.sandbox = sandbox
        self.url = server.url

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/stats").json())

    def tickets(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_sandbox/tickets").json())

    def faults(self, **changes: Any) -> None:
        httpx.put(f"{self.url}/_sandbox/faults", json=changes).raise_for_status()


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Bloxs]]:
    servers: list[ServerThread] = []

    def make(port: int = 0, faults: Faults | None = None, **config: Any) -> Bloxs:
        config.setdefault("limits", dict(ROOMY_LIMITS))
        app = create_sandbox_app(SandboxConfig(faults=faults or Faults(), **config))
        server = ServerThread(app, port=port).start()
        servers.append(server)
        return Bloxs(server, app.state.sandbox)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def bloxs(make_sandbox: Callable[..., Bloxs]) -> Bloxs:
    return make_sandbox()


def settings_for(bloxs: Bloxs, **overrides: Any) -> BloxsSettings:
    settings = BloxsSettings(
        base_url=bloxs.url,
        api_key=Secret(API_KEY),
        api_secret=Secret(API_SECRET),
        timeout_seconds=5.0,
        connect_timeout_seconds=1.0,
        budgets=ROOMY_BUDGET,
        retry=RetryPolicy(attempts=6, base_delay_seconds=0.01, max_delay_seconds=0.2),
    )
    return replace(settings, **overrides)


def make_ticket(external: str | None = "JIRA-1", **overrides: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {
        "externalIdentifier": external,
        "reportingDate": "2026-12-03",
        "stateName": "Nieuw",
        "priority": 2,
        "description": DESCRIPTION,
        "realEstateObjectReference": "300001",
        "reporterReference": "100002",
    }
    ticket.update(overrides)
    return ticket


def calls(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "bloxs.call"]


# --- authentication ---------------------------------------------------------------------


async def test_token_exchanged_once_and_reused(bloxs: Bloxs) -> None:
    """The key and secret are exchanged once; later calls reuse the cached token."""
    async with BloxsClient(settings_for(bloxs)) as client:
        await client.list_states()
        await client.list_cost_categories()
        await client.get(reference="ST999999")
        assert client.token_renewals == 1
    stats = bloxs.stats()
    assert stats["tokens_issued"] == 1
    assert stats["requests"]["authorization"] == 1


async def test_token_renewed_before_expiry(make_sandbox: Callable[..., Bloxs]) -> None:
    """A token is renewed before it expires, without a 401 first."""
    bloxs = make_sandbox(token_lifetime_seconds=1.0)
    async with BloxsClient(settings_for(bloxs, renew_before_seconds=300.0)) as client:
        with capture_logs() as logs:
            await client.list_states()
            await asyncio.sleep(0.6)
            await client.list_states()
    assert bloxs.stats()["tokens_issued"] == 2
    assert client.token_renewals == 2
    assert all(entry["status"] == 200 for entry in calls(logs))


async def test_concurrent_callers_share_one_renewal(make_sandbox: Callable[..., Bloxs]) -> None:
    """Twenty calls at once, before there is a token and once it is due, fetch one each."""
    bloxs = make_sandbox(token_lifetime_seconds=1.0)
    async with BloxsClient(settings_for(bloxs)) as client:
        await asyncio.gather(*(client.list_states() for _ in range(20)))
        assert bloxs.stats()["tokens_issued"] == 1
        await asyncio.sleep(0.6)
        await asyncio.gather(*(client.list_states() for _ in range(20)))
    assert bloxs.stats()["tokens_issued"] == 2


async def test_401_renews_once_and_repeats(make_sandbox: Callable[..., Bloxs]) -> None:
    """When Bloxs forgets the token (here: a restarted environment), one 401 gets a new token
    and the request is repeated."""
    first = make_sandbox()
    async with BloxsClient(settings_for(first)) as client:
        await client.list_states()
        port = first.server.port
        first.server.stop()
        second = make_sandbox(port=port)
        with capture_logs() as logs:
            states = await client.list_states()
    assert states
    assert [entry["status"] for entry in calls(logs)] == [401, 200, 200]
    assert second.stats()["tokens_issued"] == 1
    assert client.token_renewals == 2


async def test_ready_token_refused_is_auth_error(bloxs: Bloxs) -> None:
    """A configured bearer token is used as-is; a 401 then is BloxsAuthError, sent once."""
    settings = settings_for(bloxs, api_key=None, api_secret=None, token=Secret("stale-token-x"))
    async with BloxsClient(settings) as client:
        with pytest.raises(BloxsAuthError) as caught:
            await client.list_states()
    assert caught.value.status == 401
    assert caught.value.transient is False
    assert "stale-token-x" not in str(caught.value)
    assert bloxs.stats()["requests"]["get"] == 1


async def test_wrong_secret_is_auth_error(bloxs: Bloxs) -> None:
    """A refused token exchange is BloxsAuthError whose message names neither key nor secret."""
    settings = settings_for(bloxs, api_secret=Secret("wrong-secret-123"))
    async with BloxsClient(settings) as client:
        with capture_logs() as logs, pytest.raises(BloxsAuthError) as caught:
            await client.list_states()
    assert "api_secret" in str(caught.value)
    for text in (str(caught.value), repr(logs)):
        assert "wrong-secret-123" not in text
        assert API_KEY not in text
    assert bloxs.stats()["requests"]["get"] == 0


async def test_no_credentials_is_auth_error(bloxs: Bloxs) -> None:
    """Without token or key+secret nothing is sent and the error says what to configure."""
    async with BloxsClient(settings_for(bloxs, api_key=None, api_secret=None)) as client:
        with pytest.raises(BloxsAuthError, match=r"bloxs\.api_key"):
            await client.list_states()
    assert sum(bloxs.stats()["requests"].values()) == 0


# --- operations -------------------------------------------------------------------------


async def test_every_operation(bloxs: Bloxs) -> None:
    """create, get (both identifiers), update, note, done and the three lists work."""
    async with BloxsClient(settings_for(bloxs)) as client:
        created = await client.create(make_ticket("JIRA-7"))
        reference = created["reference"]
        assert created["externalIdentifier"] == "JIRA-7"
        assert await client.get(reference=reference) == created
        assert await client.get(external_identifier="JIRA-7") == created
        assert await client.get(external_identifier="JIRA-404") is None

        updated = await client.update({**ticket_to_update(created), "stateName": "In behandeling"})
        assert updated["stateName"] == "In behandeling"
        note = await client.add_note(reference=reference, message="Monteur komt dinsdag.")
        assert note["reference"] == reference
        closed = await client.close_ticket(
            reference=reference, closing_date=datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
        )
        assert closed["stateName"] == "Gereed"

        states = await client.list_states()
        assert {"name": "Wacht op leverancier", "systemState": 2} in states
        assert {"name": "Offerte aangevraagd", "systemState": None} in states
        assert {"name": "Reparatie"} in await client.list_cost_categories()
        assert {"name": "Elektra"} in (await client.list_problem_categories() or [])

    [stored] = bloxs.tickets()
    assert stored["stateName"] == "Gereed"
    assert stored["closingDate"].startswith("2026-12-05T14:00")
    assert [n["message"] for n in stored["notes"]] == ["Monteur komt dinsdag."]


async def test_400_is_validation_error_with_fields_and_trace(bloxs: Bloxs) -> None:
    """Bloxs's 400 becomes BloxsValidationError with its field messages and traceId, not
    retried."""
    async with BloxsClient(settings_for(bloxs)) as client:
        with pytest.raises(BloxsValidationError) as caught:
            await client.create(make_ticket(reporterReference="999999", stateName="Weg"))
    error = caught.value
    assert error.status == 400
    assert error.transient is False
    assert error.errors["reporterReference"] == ["Relation '999999' does not exist."]
    assert "stateName" in error.errors
    assert error.trace_id
    assert error.trace_id in str(error)
    assert "Relation '999999' does not exist." in str(error)
    assert bloxs.stats()["requests"]["update"] == 1


async def test_contract_violation_sends_nothing(bloxs: Bloxs) -> None:
    """A ticket that does not fit the contract is refused before anything is sent."""
    async with BloxsClient(settings_for(bloxs)) as client:
        with pytest.raises(ContractViolation) as caught:
            await client.create(make_ticket(description="x" * 513))
    assert "description" in caught.value.errors
    assert sum(bloxs.stats()["requests"].values()) == 0


async def test_problem_category_404_is_none_and_warns_once(
    make_sandbox: Callable[..., Bloxs],
) -> None:
    """No problem-category list at the configured path: None, and one warning."""
    bloxs = make_sandbox(problem_categories=False)
    async with BloxsClient(settings_for(bloxs)) as client:
        with capture_logs() as logs:
            assert await client.list_problem_categories() is None
            assert await client.list_problem_categories() is None
    warnings = [e for e in logs if e["event"] == "problem category validation skipped"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"


# --- retries and safe create ------------------------------------------------------------


async def test_retries_through_injected_errors(make_sandbox: Callable[..., Bloxs]) -> None:
    """With half the requests failing 500/503, reads and creates still succeed, once each."""
    bloxs = make_sandbox(faults=Faults(error_rate=0.5, seed=11))
    async with BloxsClient(settings_for(bloxs)) as client:
        for _ in range(8):
            assert await client.list_states()
        created = [await client.create(make_ticket(f"ERR-{i}")) for i in range(6)]
    stats = bloxs.stats()
    assert stats["faults"]["errors"] > 0
    assert stats["tickets"] == 6
    assert sorted(t["externalIdentifier"] for t in bloxs.tickets()) == sorted(
        t["externalIdentifier"] for t in created
    )


async def test_timeouts_exhaust_retries_then_recover(bloxs: Bloxs) -> None:
    """Answers slower than the timeout are retried and end in a transient BloxsUnavailable;
    once Bloxs is fast again the same client works."""
    retry = RetryPolicy(attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)
    async with BloxsClient(settings_for(bloxs, timeout_seconds=0.1, retry=retry)) as client:
        await client.list_states()  # the token, while Bloxs is fast
        bloxs.faults(latency_ms=400)
        with capture_logs() as logs, pytest.raises(BloxsUnavailable) as caught:
            await client.list_states()
        assert caught.value.transient is True
        assert "3 attempts" in str(caught.value)
        assert [(e["attempt"], e["error"]) for e in calls(logs)] == [
            (1, "ReadTimeout"),
            (2, "ReadTimeout"),
            (3, "ReadTimeout"),
        ]
        bloxs.faults(latency_ms=0)
        assert await client.list_states()


async def test_commit_then_drop_never_duplicates(make_sandbox: Callable[..., Bloxs]) -> None:
    """Creates whose connection drops after Bloxs committed are found by externalIdentifier,
    not posted again: 20 creates, 20 tickets."""
    bloxs = make_sandbox(faults=Faults(drop_after_commit=0.5, seed=5))
    async with BloxsClient(settings_for(bloxs)) as client:
        with capture_logs() as logs:
            created = [await client.create(make_ticket(f"DROP-{i}")) for i in range(20)]
    stats = bloxs.stats()
    assert stats["faults"]["drops"] > 0
    assert stats["tickets"] == 20
    stored = {t["externalIdentifier"]: t["reference"] for t in bloxs.tickets()}
    assert stored == {t["externalIdentifier"]: t["reference"] for t in created}
    found = [e for e in logs if e["event"] == "bloxs.create_found"]
    assert len(found) == stats["faults"]["drops"]


async def test_drop_always_then_healed(bloxs: Bloxs) -> None:
    """With every write dropped, a create is still answered (from the look-up), once."""
    bloxs.faults(drop_after_commit=1.0)
    async with BloxsClient(settings_for(bloxs)) as client:
        first = await client.create(make_ticket("HEAL-1"))
        bloxs.faults(drop_after_commit=0.0)
        second = await client.create(make_ticket("HEAL-2"))
    assert [t["reference"] for t in bloxs.tickets()] == [first["reference"], second["reference"]]


async def test_create_without_external_identifier_is_not_reposted(bloxs: Bloxs) -> None:
    """Without externalIdentifier an unknown outcome is raised, never posted a second time."""
    bloxs.faults(drop_after_commit=1.0)
    async with BloxsClient(settings_for(bloxs)) as client:
        with pytest.raises(BloxsUnavailable) as caught:
            await client.create(make_ticket(None))
    assert caught.value.outcome_unknown is True
    assert "externalIdentifier" in str(caught.value)
    assert bloxs.stats()["tickets"] == 1
    assert bloxs.stats()["requests"]["update"] == 1


# --- rate budget ------------------------------------------------------------------------


async def test_burst_within_budget_gets_no_429(make_sandbox: Callable[..., Bloxs]) -> None:
    """Bloxs's limit equal to our budget: 20 concurrent creates, zero 429s, all created."""
    limits = {"update": 5, "filter": 5, "get": 50, "authorization": 5}
    bloxs = make_sandbox(limits=limits, window_seconds=1.0)
    budget = RateBudgets(
        update=5, filter=5, get=50, authorization=5, window_seconds=1.0, margin_seconds=0.2
    )
    async with BloxsClient(settings_for(bloxs, budgets=budget)) as client:
        created = await asyncio.gather(*(client.create(make_ticket(f"B-{i}")) for i in range(20)))
    stats = bloxs.stats()
    assert stats["rate_limited"] == 0
    assert stats["tickets"] == 20
    assert {t["reference"] for t in created} == {t["reference"] for t in bloxs.tickets()}


async def test_429_holds_every_request_until_the_window_ends(
    make_sandbox: Callable[..., Bloxs],
) -> None:
    """With a budget above Bloxs's limit, the 429s lock the client out until the next window
    and every create then succeeds, once."""
    limits = {"update": 3, "filter": 5, "get": 50, "authorization": 5}
    bloxs = make_sandbox(limits=limits, window_seconds=1.0)
    budget = replace(ROOMY_BUDGET, margin_seconds=0.05)
    async with BloxsClient(settings_for(bloxs, budgets=budget)) as client:
        with capture_logs() as logs:
            await asyncio.gather(*(client.create(make_ticket(f"L-{i}")) for i in range(6)))
    assert bloxs.stats()["rate_limited"] > 0
    assert bloxs.stats()["tickets"] == 6
    refused = [e for e in calls(logs) if e["status"] == 429]
    assert refused
    assert all(e["trace_id"] for e in refused)


# --- Bloxs behaviours the sandbox does not show ------------------------------------------


async def test_retry_after_is_honoured() -> None:
    """A 503 with Retry-After (seconds, then an HTTP date) waits that long before retrying."""
    seen: list[float] = []
    answers = [
        httpx.Response(503, headers={"Retry-After": "0.3"}),
        httpx.Response(
            503,
            headers={"Retry-After": format_datetime(datetime.now(UTC) + timedelta(seconds=1))},
        ),
        httpx.Response(200, json=[{"name": "Nieuw", "systemState": 1}]),
    ]

    def bloxs(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        return answers[len(seen) - 1]

    settings = BloxsSettings(
        token=Secret("ready"),
        budgets=ROOMY_BUDGET,
        retry=RetryPolicy(attempts=3, base_delay_seconds=0.001, max_delay_seconds=2.0),
    )
    async with BloxsClient(settings, transport=httpx.MockTransport(bloxs)) as client:
        assert await client.list_states() == [{"name": "Nieuw", "systemState": 1}]
    assert seen[1] - seen[0] >= 0.29
    # an HTTP date has whole seconds: somewhere between 0 and 1 s after the second answer
    assert seen[2] > seen[1]


async def test_gateway_html_and_403_are_tolerated() -> None:
    """A non-JSON 502 is retried; a 403 without a body is BloxsForbidden; the request id of the
    bound context travels as X-Request-ID."""
    request_ids: list[str | None] = []
    answers = [
        httpx.Response(502, text="<html>Bad gateway</html>"),
        httpx.Response(403),
    ]

    def bloxs(request: httpx.Request) -> httpx.Response:
        request_ids.append(request.headers.get("X-Request-ID"))
        return answers[len(request_ids) - 1]

    settings = BloxsSettings(
        token=Secret("ready"),
        budgets=ROOMY_BUDGET,
        retry=RetryPolicy(attempts=3, base_delay_seconds=0.001, max_delay_seconds=0.01),
    )
    structlog.contextvars.bind_contextvars(request_id="req-42")
    try:
        async with BloxsClient(settings, transport=httpx.MockTransport(bloxs)) as client:
            with pytest.raises(BloxsForbidden) as caught:
                await client.list_cost_categories()
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    assert caught.value.status == 403
    assert caught.value.trace_id is None
    assert request_ids == ["req-42", "req-42"]


# --- what is logged -----------------------------------------------------------------------


async def test_logs_and_errors_hold_no_secrets_or_ticket_content(bloxs: Bloxs) -> None:
    """One bloxs.call line per attempt with its fields; never the token, key, secret or
    ticket text, in logs or error messages."""
    async with httpx.AsyncClient(base_url=bloxs.url) as http:
        answer = await http.post(
            "/Authorization", json={"apiKey": API_KEY, "apiSecret": API_SECRET}
        )
    token = answer.json()["token"]
    errors: list[str] = []
    with capture_logs() as logs:
        async with BloxsClient(settings_for(bloxs)) as client:
            created = await client.create(make_ticket("LOG-1"))
            await client.add_note(reference=created["reference"], message=DESCRIPTION)
            try:
                await client.create(make_ticket("LOG-2", reporterReference="999999"))
            except BloxsValidationError as exc:
                errors.append(str(exc))
        settings = settings_for(bloxs, api_key=None, api_secret=None, token=Secret(token))
        async with BloxsClient(settings) as client:
            await client.get(reference=created["reference"])
        bloxs.faults(drop_after_commit=1.0)
        async with BloxsClient(settings) as client:
            try:
                await client.create(make_ticket(None))
            except BloxsUnavailable as exc:
                errors.append(str(exc))
    assert len(errors) == 2
    lines = calls(logs)
    assert [e["operation"] for e in lines] == [
        "authorize",
        "create",
        "note",
        "create",
        "get",
        "create",
    ]
    for line in lines:
        assert {
            "operation",
            "method",
            "path",
            "status",
            "duration_ms",
            "attempt",
            "trace_id",
        } <= set(line)
    assert lines[-1]["error"] == "RemoteProtocolError"
    everything = repr(logs) + repr(errors)
    for secret in (token, API_KEY, API_SECRET, DESCRIPTION, "Klaassen", "jan@example.test"):
        assert secret not in everything

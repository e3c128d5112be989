"""The one HTTP client of Bloxs: authentication, rate budget, retries and safe creates.

Docs: reference/bloxs-api.md §1 (conventions, problem details), §2 (token exchange at
POST /Authorization, rate limits), §3 (service-ticket endpoints). Every request body passes
the contract schemas in `adapter.bloxs.contract` before it is sent (a request that does not fit
raises `contract.ContractViolation` and nothing is sent); every answer is read back through
them. Only this module imports httpx; what goes wrong leaves it as `adapter.bloxs.errors`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx
import structlog
from marshmallow import Schema, ValidationError

from adapter.bloxs import contract
from adapter.bloxs.errors import (
    BloxsAuthError,
    BloxsError,
    BloxsForbidden,
    BloxsNotFound,
    BloxsProtocolError,
    BloxsUnavailable,
    BloxsValidationError,
)
from adapter.bloxs.ratelimit import InProcessBudget, RateBudget
from adapter.settings import BloxsSettings

log = structlog.get_logger(__name__)

# §2.1: the token exchange has no /api/v1 prefix.
AUTHORIZATION_PATH = "/Authorization"
TICKETS_PATH = "/api/v1/maintenance/servicetickets"
DONE_PATH = f"{TICKETS_PATH}/done"
NOTES_PATH = f"{TICKETS_PATH}/notes"
STATES_PATH = f"{TICKETS_PATH}/states"
COST_CATEGORIES_PATH = f"{TICKETS_PATH}/costscategories"

# Raised before a byte of the request left: sending it again cannot do anything twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Errors of our own set-up (a bad base_url, a proxy), not of Bloxs: retrying will not help.
_NOT_RETRIED = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
_RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# §2.1: "a token lives 24 hours"; assumed when Bloxs's `expiration` cannot be read.
_DOCUMENTED_TOKEN_LIFETIME = 24 * 3600.0
# A token that looks expired on arrival (clocks apart) is still used this long; a 401 then
# renews it. Renewing on every call would exhaust the 10-per-minute authorization limit.
_MIN_TOKEN_LIFETIME = 60.0
_REDACTED = "**********"


@dataclass(frozen=True)
class _Call:
    operation: str
    method: str
    path: str
    bucket: str
    body: Any = None
    params: dict[str, str] | None = None
    # Sending it twice does no harm: a 500 is retried too (§1.5 "500: retry later").
    idempotent: bool = False
    authenticated: bool = True


@dataclass(frozen=True)
class _Problem:
    errors: dict[str, list[str]] = field(default_factory=dict)
    trace_id: str | None = None
    title: str | None = None


class BloxsClient:
    """`async with BloxsClient(settings) as bloxs: ticket = await bloxs.create({...})`."""

    def __init__(
        self,
        settings: BloxsSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: RateBudget | None = None,
        on_call: Callable[[str, int | None, int, float], None] | None = None,
    ) -> None:
        """`on_call(operation, status or None, attempt, seconds)` hears of every HTTP call
        (the metrics hook)."""
        self._settings = settings
        self._on_call = on_call
        self._budget: RateBudget = budget or InProcessBudget(settings.budgets)
        timeout = settings.timeout_seconds
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_seconds, read=timeout, write=timeout, pool=timeout
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "bloxs-adapter"},
        )
        self._token: str | None = str(settings.token) if settings.token else None
        self._renew_at = math.inf if settings.token else 0.0
        self._token_lock = asyncio.Lock()
        self._random = random.Random()
        self._problem_categories_missing_logged = False
        self.token_renewals = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> BloxsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- service tickets (§3) -----------------------------------------------------------

    async def create(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """POST a new ticket. Bloxs has no idempotency key (§1.6): when an attempt's outcome is
        unknown, the ticket is looked up by externalIdentifier before anything is posted again,
        and returned if it is there. Without an externalIdentifier there is nothing to look up,
        so an unknown outcome is raised (`outcome_unknown`) instead of risking a second ticket."""
        body = contract.validate_create(ticket)
        external = body.get("externalIdentifier")
        if not external:
            call = _Call("create", "POST", TICKETS_PATH, "update", body=body)
            return self._ticket(await self._request(call, resend_unknown=False), call)

        async def look_up() -> dict[str, Any] | None:
            try:
                found = await self.get(external_identifier=external)
            except BloxsUnavailable as exc:
                raise BloxsUnavailable(
                    "A create request may have reached Bloxs, and looking the ticket up by its "
                    f"externalIdentifier failed too: {exc.message}",
                    operation="create",
                    status=exc.status,
                    trace_id=exc.trace_id,
                    outcome_unknown=True,
                ) from exc
            if found is not None:
                log.info("bloxs.create_found", operation="create", reference=found["reference"])
            return found

        call = _Call("create", "POST", TICKETS_PATH, "update", body=body, idempotent=True)
        result = await self._run(call, look_up=look_up)
        if isinstance(result, dict):
            return result
        return self._ticket(result, call)

    async def get(
        self, *, reference: str | None = None, external_identifier: str | None = None
    ) -> dict[str, Any] | None:
        """The ticket as Bloxs has it, or None when Bloxs answers 404. Exactly one identifier:
        Bloxs fails when both are given and name different tickets (§3.2)."""
        if (reference is None) == (external_identifier is None):
            raise ValueError("give exactly one of reference and external_identifier")
        params = (
            {"reference": reference}
            if reference is not None
            else {"externalIdentifier": str(external_identifier)}
        )
        call = _Call("get", "GET", TICKETS_PATH, "get", params=params, idempotent=True)
        try:
            response = await self._request(call)
        except BloxsNotFound:
            return None
        return self._ticket(response, call)

    async def update(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """PUT the complete ticket: Bloxs overwrites every field (§3.3)."""
        body = contract.validate_update(ticket)
        call = _Call("update", "PUT", TICKETS_PATH, "update", body=body, idempotent=True)
        return await self._ticket_or_reread(await self._request(call), call, body)

    async def close_ticket(
        self, *, reference: str, closing_date: datetime | None = None
    ) -> dict[str, Any]:
        """POST .../done (§3.5); `closing_date` must carry a time zone."""
        body = contract.validate_done(
            {
                "reference": reference,
                "closingDate": closing_date.isoformat() if closing_date else None,
            }
        )
        call = _Call("done", "POST", DONE_PATH, "update", body=body, idempotent=True)
        return await self._ticket_or_reread(await self._request(call), call, body)

    async def add_note(self, *, reference: str, message: str) -> dict[str, Any]:
        """POST .../notes (§3.7). Notes cannot be read back from Bloxs, so a note whose answer
        was lost and is sent again may appear twice; losing it would be worse."""
        body = contract.validate_note({"reference": reference, "message": message})
        call = _Call("note", "POST", NOTES_PATH, "update", body=body)
        response = await self._request(call)
        if not response.content.strip():
            return body
        data = self._json(response, call)
        if not isinstance(data, dict):
            raise self._protocol(call, "the note answer is not a JSON object")
        return data

    async def list_states(self) -> list[dict[str, Any]]:
        call = _Call("states", "GET", STATES_PATH, "get", idempotent=True)
        return await self._list(call, contract.State())

    async def list_cost_categories(self) -> list[dict[str, Any]]:
        call = _Call("cost_categories", "GET", COST_CATEGORIES_PATH, "get", idempotent=True)
        return await self._list(call, contract.Category())

    async def list_problem_categories(self) -> list[dict[str, Any]] | None:
        """None when Bloxs has no list at the configured path: the endpoint is not documented
        (§3.11), so its absence switches the check of problemCategoryName off, not the adapter."""
        path = self._settings.problem_categories_path
        call = _Call("problem_categories", "GET", path, "get", idempotent=True)
        try:
            return await self._list(call, contract.Category())
        except BloxsNotFound:
            if not self._problem_categories_missing_logged:
                self._problem_categories_missing_logged = True
                log.warning(
                    "problem category validation skipped",
                    reason="Bloxs answered 404 for the problem category list",
                    path=path,
                )
            return None

    # --- answers ------------------------------------------------------------------------

    def _json(self, response: httpx.Response, call: _Call) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise self._protocol(call, "the answer is not JSON") from exc

    def _ticket(self, response: httpx.Response, call: _Call) -> dict[str, Any]:
        try:
            return contract.read_ticket(self._json(response, call))
        except contract.ContractViolation as exc:
            raise BloxsProtocolError(
                f"Bloxs answered the {call.operation} request with a ticket that does not fit "
                f"the contract: {_summary(exc.errors)}",
                operation=call.operation,
                status=response.status_code,
            ) from exc

    async def _ticket_or_reread(
        self, response: httpx.Response, call: _Call, body: dict[str, Any]
    ) -> dict[str, Any]:
        # The PUT and done answers are only partly documented (§3.3, §3.5); an empty one is
        # taken as success and the ticket is read back.
        if response.content.strip():
            return self._ticket(response, call)
        reference = body.get("reference")
        found = await (
            self.get(reference=reference)
            if reference
            else self.get(external_identifier=body["externalIdentifier"])
        )
        if found is None:
            raise self._protocol(call, "the ticket is gone right after it was written")
        return found

    async def _list(self, call: _Call, schema: Schema) -> list[dict[str, Any]]:
        data = self._json(await self._request(call), call)
        if not isinstance(data, list):
            raise self._protocol(call, "the answer is not a JSON array")
        try:
            items: list[dict[str, Any]] = schema.load(data, many=True)
        except ValidationError as exc:
            raise self._protocol(
                call, f"its items do not fit the contract ({exc.messages})"
            ) from exc
        return items

    @staticmethod
    def _protocol(call: _Call, what: str) -> BloxsProtocolError:
        return BloxsProtocolError(
            f"Bloxs's answer to the {call.operation} request was not understood: {what}.",
            operation=call.operation,
        )

    # --- authentication (§2.1) ------------------------------------------------------------

    def _can_renew(self) -> bool:
        s = self._settings
        return s.token is None and bool(s.api_key) and bool(s.api_secret)

    def _token_fresh(self) -> bool:
        return self._token is not None and time.monotonic() < self._renew_at

    async def _bearer(self) -> str:
        if self._token_fresh():
            assert self._token is not None
            return self._token
        if not self._can_renew():
            raise BloxsAuthError(
                "No Bloxs credentials are configured: set bloxs.token, or bloxs.api_key and "
                "bloxs.api_secret.",
                operation="authorize",
            )
        async with self._token_lock:
            # whoever held the lock before us may have fetched one already
            if self._token_fresh():
                assert self._token is not None
                return self._token
            return await self._exchange()

    async def _renew(self, rejected: str | None) -> None:
        """After a 401: one new token for everyone who was refused with the same old one."""
        async with self._token_lock:
            if self._token != rejected and self._token_fresh():
                return
            await self._exchange()

    async def _exchange(self) -> str:
        s = self._settings
        call = _Call(
            "authorize",
            "POST",
            AUTHORIZATION_PATH,
            "authorization",
            body={"apiKey": str(s.api_key), "apiSecret": str(s.api_secret)},
            idempotent=True,
            authenticated=False,
        )
        try:
            response = await self._request(call)
        except BloxsUnavailable:
            raise
        except BloxsError as exc:
            # Bloxs's own words are left out: its 400 may quote what was sent.
            raise BloxsAuthError(
                f"Bloxs refused to exchange the API key and secret for a token (HTTP "
                f"{exc.status}); check bloxs.api_key and bloxs.api_secret.",
                operation="authorize",
                status=exc.status,
                trace_id=exc.trace_id,
            ) from exc
        data = self._json(response, call)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise BloxsAuthError(
                "Bloxs's answer to the token exchange holds no token.",
                operation="authorize",
                status=response.status_code,
            )
        lifetime = _lifetime(data.get("expiration"))
        self._token = token
        self._renew_at = time.monotonic() + lifetime - min(s.renew_before_seconds, lifetime / 2)
        self.token_renewals += 1
        return token

    def _redact(self, text: str) -> str:
        s = self._settings
        for secret in (self._token, s.token, s.api_key, s.api_secret):
            if secret:
                text = text.replace(str(secret), _REDACTED)
        return text

    # --- sending --------------------------------------------------------------------------

    async def _request(self, call: _Call, *, resend_unknown: bool = True) -> httpx.Response:
        result = await self._run(call, resend_unknown=resend_unknown)
        assert isinstance(result, httpx.Response)
        return result

    async def _run(
        self,
        call: _Call,
        *,
        resend_unknown: bool = True,
        look_up: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> httpx.Response | dict[str, Any]:
        """Send `call` until it is answered, retrying what `settings.retry` allows.

        `outcome_unknown` becomes true once an attempt may have been carried out without us
        hearing so (sent, then a timeout, a dropped connection or a 5xx). From then on, before
        every new attempt, `look_up` runs and its ticket ends the call when there is one; with
        `resend_unknown=False` the call ends in BloxsUnavailable instead.
        """
        policy = self._settings.retry
        attempts = max(1, policy.attempts)
        attempt = 0
        renewed = False
        lockouts = 0
        outcome_unknown = False
        while True:
            attempt += 1
            if outcome_unknown and look_up is not None:
                found = await look_up()
                if found is not None:
                    return found
            token = await self._bearer() if call.authenticated else None
            retry_after: float | None = None
            cause: Exception | None = None
            try:
                response, problem = await self._send(call, attempt, token)
            except httpx.HTTPError as exc:
                if isinstance(exc, _NOT_RETRIED) or not isinstance(exc, httpx.TransportError):
                    raise BloxsProtocolError(
                        f"The {call.operation} request could not be sent to Bloxs "
                        f"({type(exc).__name__}); check bloxs.base_url.",
                        operation=call.operation,
                    ) from exc
                outcome_unknown = outcome_unknown or not isinstance(exc, _NOT_SENT)
                status: int | None = None
                trace_id: str | None = None
                what = f"no answer ({type(exc).__name__})"
                cause = exc
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                trace_id = problem.trace_id
                if status == 401 and call.authenticated and self._can_renew() and not renewed:
                    renewed = True
                    await self._renew(token)
                    attempt -= 1  # a stale token is not a failed attempt
                    continue
                retried = status in _RETRIED_STATUSES or (status == 500 and call.idempotent)
                if not retried:
                    raise self._refusal(call, status, problem)
                outcome_unknown = outcome_unknown or status >= 500
                what = f"HTTP {status}"
                retry_after = _retry_after(response)
                if status == 429:
                    # §2.4: the whole environment is locked out for the rest of the window.
                    await self._budget.penalize(self._lockout_end(retry_after, lockouts))
                    lockouts += 1
            if outcome_unknown and not resend_unknown:
                raise BloxsUnavailable(
                    f"Bloxs may or may not have carried out the {call.operation} request "
                    f"({what}); it is not sent again because it has no externalIdentifier to "
                    "look it up by.",
                    operation=call.operation,
                    status=status,
                    trace_id=trace_id,
                    outcome_unknown=True,
                ) from cause
            wait = 0.0
            if status != 429:  # after a 429 the budget itself holds the next attempt back
                backoff = min(
                    policy.max_delay_seconds, policy.base_delay_seconds * 2 ** (attempt - 1)
                )
                wait = retry_after if retry_after is not None else self._random.uniform(0, backoff)
            if attempt >= attempts or wait > policy.max_delay_seconds:
                raise BloxsUnavailable(
                    f"Bloxs did not carry out the {call.operation} request: {what} after "
                    f"{attempt} attempt{'s' if attempt > 1 else ''}."
                    + (
                        f" Bloxs asked to wait {wait:.0f} s."
                        if wait > policy.max_delay_seconds
                        else ""
                    ),
                    operation=call.operation,
                    status=status,
                    trace_id=trace_id,
                    outcome_unknown=outcome_unknown and call.method != "GET",
                ) from cause
            if wait > 0:
                await asyncio.sleep(wait)

    async def _send(
        self, call: _Call, attempt: int, token: str | None
    ) -> tuple[httpx.Response, _Problem]:
        """One attempt: the budget first, then the request, then its one log line."""
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            headers["X-Request-ID"] = str(request_id)
        await self._budget.acquire(call.bucket)
        started = time.perf_counter()
        line = {"operation": call.operation, "method": call.method, "path": call.path}
        try:
            response = await self._http.request(
                call.method, call.path, json=call.body, params=call.params, headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning(
                "bloxs.call",
                **line,
                status=None,
                error=type(exc).__name__,
                duration_ms=_ms(started),
                attempt=attempt,
                trace_id=None,
            )
            self._heard(call, None, attempt, started)
            raise
        problem = self._problem(response) if response.status_code >= 300 else _Problem()
        level = (
            log.info if response.status_code < 400 or response.status_code == 404 else log.warning
        )
        level(
            "bloxs.call",
            **line,
            status=response.status_code,
            duration_ms=_ms(started),
            attempt=attempt,
            trace_id=problem.trace_id,
        )
        self._heard(call, response.status_code, attempt, started)
        return response, problem

    def _heard(self, call: _Call, status: int | None, attempt: int, started: float) -> None:
        if self._on_call is not None:
            self._on_call(call.operation, status, attempt, time.perf_counter() - started)

    def _problem(self, response: httpx.Response) -> _Problem:
        """Bloxs's problem details (§1.5), as far as the body is one; 401/403/429 bodies are
        not documented, so anything (or nothing) is tolerated."""
        try:
            data = response.json()
        except ValueError:
            return _Problem()
        if not isinstance(data, dict):
            return _Problem()
        try:
            loaded = contract.ProblemDetails().load(data)
        except ValidationError:
            trace_id = data.get("traceId")
            return _Problem(trace_id=trace_id if isinstance(trace_id, str) else None)
        errors = {
            self._redact(name): [self._redact(m) for m in messages]
            for name, messages in (loaded.get("errors") or {}).items()
        }
        title = loaded.get("title")
        return _Problem(errors, loaded.get("traceId"), self._redact(title) if title else None)

    def _refusal(self, call: _Call, status: int, problem: _Problem) -> BloxsError:
        op, trace_id = call.operation, problem.trace_id
        if status == 400:
            reason = _summary(problem.errors) or problem.title or "no reason given"
            return BloxsValidationError(
                f"Bloxs refused the {op} request: {reason}",
                operation=op,
                errors=problem.errors,
                trace_id=trace_id,
            )
        if status == 401:
            hint = (
                "even with a new token; check bloxs.api_key and bloxs.api_secret"
                if self._can_renew()
                else "check bloxs.token"
            )
            return BloxsAuthError(
                f"Bloxs did not accept the token for the {op} request (HTTP 401), {hint}.",
                operation=op,
                status=status,
                trace_id=trace_id,
            )
        if status == 403:
            return BloxsForbidden(
                f"The Bloxs API user may not make the {op} request (HTTP 403); its role in "
                "Bloxs lacks the right.",
                operation=op,
                status=status,
                trace_id=trace_id,
            )
        if status == 404:
            return BloxsNotFound(
                f"Bloxs found nothing for the {op} request (HTTP 404).",
                operation=op,
                status=status,
                trace_id=trace_id,
            )
        if status >= 500:
            return BloxsUnavailable(
                f"Bloxs failed on the {op} request (HTTP {status}).",
                operation=op,
                status=status,
                trace_id=trace_id,
                outcome_unknown=call.method != "GET",
            )
        return BloxsProtocolError(
            f"Bloxs answered the {op} request with HTTP {status}, which the contract does not "
            "describe.",
            operation=op,
            status=status,
            trace_id=trace_id,
        )

    def _lockout_end(self, retry_after: float | None, lockouts: int) -> float:
        """Wall-clock end of a 429 lockout. §2.4 says "the rest of the current window" but not
        how windows are aligned: first assume whole multiples of the window (minutes), and if
        Bloxs still refuses after that, wait one full window from now."""
        now = time.time()
        if retry_after is not None:
            return now + retry_after
        budgets = self._settings.budgets
        window, margin = budgets.window_seconds, budgets.margin_seconds
        if lockouts == 0:
            return (math.floor(now / window) + 1) * window + margin
        return now + window + margin


def _summary(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds from now (RFC 9110 §10.2.3: delay-seconds or an HTTP date).
    Bloxs does not document sending it (§2.4); honoured when it does."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _lifetime(expiration: Any) -> float:
    """Seconds the token lives from now. The time zone of Bloxs date-times is not documented
    (§1.4): a naive one is read as UTC (a 401 renews it should that be wrong)."""
    if not isinstance(expiration, str):
        return _DOCUMENTED_TOKEN_LIFETIME
    try:
        when = datetime.fromisoformat(expiration)
    except ValueError:
        return _DOCUMENTED_TOKEN_LIFETIME
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    lifetime = (when - datetime.now(UTC)).total_seconds()
    return lifetime if lifetime > 0 else _MIN_TOKEN_LIFETIME

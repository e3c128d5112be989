"""A Bloxs sandbox: the part of the Bloxs API the adapter uses, served by Starlette.

Behaviour follows the Bloxs docs as summarised in reference/bloxs-api.md: the token exchange
(§2.1), ASP.NET problem details (§1.5), the environment-wide rate-limit lockout (§2.4) and the
service-ticket endpoints (§3). Requests are validated with the contract schemas in
`adapter.bloxs.contract`, then checked against the seeded relations, objects, states and
categories (`adapter.bloxs.sandbox_seed`). Where the docs are silent the sandbox is strict
rather than lenient, so a mapping that works here does not lean on a guess.

Fault injection (errors, latency, a dropped connection after a committed write) and the
control endpoints under /_sandbox exist for tests, benchmarks and integration engineers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import random
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter.bloxs import contract
from adapter.bloxs.sandbox_seed import (
    SEED_COST_CATEGORIES,
    SEED_OBJECTS,
    SEED_PROBLEM_CATEGORIES,
    SEED_RELATIONS,
    SEED_STATES,
    SEED_SUPPLIERS,
    seed_as_json,
)

log = structlog.get_logger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

TICKETS = "/api/v1/maintenance/servicetickets"
BUCKETS = ("authorization", "update", "filter", "get")
_WRITES = {
    ("POST", TICKETS),
    ("PUT", TICKETS),
    ("POST", TICKETS + "/done"),
    ("POST", TICKETS + "/notes"),
}
_TICKET_FIELDS = tuple(contract.ServiceTicketFields().fields)

# ASP.NET Core's problem-details type and title per status (Bloxs's `type` is "always the same
# generic URL", bloxs-api.md §1.5); 429 has no RFC 9110 section.
_RFC = "https://tools.ietf.org/html/rfc9110#section-"
_PROBLEMS = {
    400: (_RFC + "15.5.1", "One or more validation errors occurred."),
    401: (_RFC + "15.5.2", "Unauthorized"),
    404: (_RFC + "15.5.5", "Not Found"),
    405: (_RFC + "15.5.6", "Method Not Allowed"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
    500: (_RFC + "15.6.1", "An error occurred while processing your request."),
    503: (_RFC + "15.6.4", "Service Unavailable"),
}
_EITHER = "Either reference or externalIdentifier must have a value."


@dataclass
class Faults:
    error_rate: float = 0.0  # fraction of /api requests answered 500/503 without acting
    latency_ms: float = 0.0  # added before answering every /api and /Authorization request
    drop_after_commit: float = 0.0  # fraction of writes committed, then the connection dropped
    seed: int | None = None  # for reproducible fault patterns


def _default_limits() -> dict[str, int]:
    # Bloxs's documented per-environment limits per minute (bloxs-api.md §2.4).
    return {"update": 100, "filter": 100, "get": 500, "authorization": 10}


@dataclass
class SandboxConfig:
    api_key: str = "sandbox-api-key"
    api_secret: str = "sandbox-api-secret"  # noqa: S105 - the sandbox's published default
    token_lifetime_seconds: float = 86400.0
    limits: dict[str, int] = field(default_factory=_default_limits)
    window_seconds: float = 60.0  # windows aligned to multiples of this on time.time()
    faults: Faults = field(default_factory=Faults)
    problem_categories: bool = True  # False: the list path answers 404
    # Bloxs does not document enforcing it; off so that duplicate creates stay visible.
    unique_external_identifier: bool = False


class _Problem(Exception):
    """Answered as problem details; `errors` is ASP.NET's {field: [messages]}."""

    def __init__(
        self,
        status: int,
        errors: dict[str, list[str]] | None = None,
        *,
        detail: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        kind, default_title = _PROBLEMS.get(status, ("about:blank", "Error"))
        self.status, self.errors, self.headers = status, errors, headers
        self.body: dict[str, Any] = {"type": kind, "title": title or default_title}
        self.body.update({"status": status, "detail": detail} if detail else {"status": status})

    def response(self) -> JSONResponse:
        body = {**self.body, "traceId": str(uuid.uuid4())}
        if self.errors is not None:
            body["errors"] = self.errors
        return JSONResponse(
            body, self.status, headers=self.headers, media_type="application/problem+json"
        )


class _ConnectionDropped(Exception):
    """Raised after the response head is sent, so uvicorn closes the connection mid-body."""


# --- validation messages ----------------------------------------------------------------


def _dotnet_type(f: fields.Field[Any]) -> str:
    if isinstance(f, fields.Boolean):
        return "System.Boolean"
    if isinstance(f, fields.Integer):
        return "System.Int32"
    if isinstance(f, fields.Float):
        return "System.Double"
    if isinstance(f, fields.AwareDateTime):
        return "System.DateTimeOffset (an ISO 8601 date-time with an offset)"
    if isinstance(f, fields.Date):
        return "System.DateOnly (yyyy-MM-dd)"
    if isinstance(f, fields.Nested):
        return "an object"
    return "System.String"


def _field_message(schema: Schema, key: str, data: dict[str, Any], original: list[str]) -> str:
    """Marshmallow's verdict on one field, reworded the way ASP.NET words it."""
    f = schema.fields.get(key)
    if f is None:
        # System.Text.Json would ignore the property; rejecting it shows a mapping's typo.
        return f"The JSON property '{key}' is not part of the Bloxs contract."
    value = data.get(key)
    if f.required and (value is None or value == ""):
        return f"The {key} field is required."
    for v in f.validators:
        if isinstance(v, validate.Length) and isinstance(value, str) and len(value) > (v.max or 0):
            return f"The field {key} must be a string with a maximum length of {v.max}."
        if isinstance(v, validate.OneOf) and type(value) is int and value not in v.choices:
            allowed = ", ".join(str(c) for c in v.choices)
            return f"The field {key} must be one of {allowed}."
    if isinstance(f, fields.Nested) and isinstance(value, dict):
        return "; ".join(original)
    return f"The JSON value could not be converted to {_dotnet_type(f)}. Path: $.{key}."


def _load(schema: Schema, data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(the JSON-ready valid fields, ASP.NET-style errors for the others)."""
    if not isinstance(data, dict):
        return {}, {"$": ["The JSON value could not be converted to the request object."]}
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        valid = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        messages = exc.messages if isinstance(exc.messages, dict) else {"$": exc.messages}
        errors = {
            key: [_field_message(schema, key, data, _as_list(msgs))]
            for key, msgs in messages.items()
        }
        return valid, errors
    dumped: dict[str, Any] = schema.dump(loaded)
    return dumped, {}


def _valid(schema: Schema, data: Any) -> dict[str, Any]:
    valid, errors = _load(schema, data)
    if errors:
        raise _Problem(400, errors)
    return valid


def _as_list(messages: Any) -> list[str]:
    if isinstance(messages, list):
        return [str(m) for m in messages]
    if isinstance(messages, dict):
        return [f"{k}: {'; '.join(_as_list(v))}" for k, v in messages.items()]
    return [str(messages)]


class _AuthorizationRequest(Schema):
    class Meta:
        unknown = "exclude"

    apiKey = fields.String(required=True, validate=validate.Length(min=1))
    apiSecret = fields.String(required=True, validate=validate.Length(min=1))


class _Paging(Schema):
    class Meta:
        unknown = RAISE

    # bloxs-api.md §1.3: default 100, maximum 1,000; pageNumber taken as 1-based.
    pageSize = fields.Integer(strict=True, load_default=100, validate=validate.Range(1, 1000))
    pageNumber = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1))


class _FilterRequest(Schema):
    class Meta:
        unknown = RAISE

    paging = fields.Nested(_Paging, load_default=lambda: {"pageSize": 100, "pageNumber": 1})
    # Accepted and ignored: the values of sorting.order are not documented (§1.3).
    sorting = fields.Dict(load_default=None, allow_none=True)
    reference = fields.String(load_default=None, allow_none=True)
    externalIdentifier = fields.String(load_default=None, allow_none=True)
    stateName = fields.String(load_default=None, allow_none=True)
    priority = fields.Integer(strict=True, load_default=None, allow_none=True)
    reportingDate = fields.Date(load_default=None, allow_none=True)


class _FaultsUpdate(Schema):
    class Meta:
        unknown = RAISE

    error_rate = contract.StrictNumber(validate=validate.Range(0.0, 1.0))
    latency_ms = contract.StrictNumber(validate=validate.Range(0.0, 60_000.0))
    drop_after_commit = contract.StrictNumber(validate=validate.Range(0.0, 1.0))
    seed = fields.Integer(strict=True, allow_none=True)


# --- state --------------------------------------------------------------------------------


@dataclass
class _Record:
    ticket: dict[str, Any]
    notes: list[dict[str, Any]] = field(default_factory=list)
    closing_date: str | None = None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Sandbox:
    """The environment: tickets, tokens, rate windows and fault counters, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        # Never reset: a reference is never reused in an environment (bloxs-api.md §1.1).
        self._last_number = 0
        self._relations = {r.reference for r in SEED_RELATIONS}
        self._suppliers = {s.reference for s in SEED_SUPPLIERS}
        self._objects = {o.reference for o in SEED_OBJECTS}
        self._states = {s.name for s in SEED_STATES}
        self._done_state = next(s.name for s in SEED_STATES if s.system_state == 4)
        self._reset_state()

    def _reset_state(self) -> None:
        self._tickets: dict[str, _Record] = {}
        self._requests = dict.fromkeys(BUCKETS, 0)
        self._window = -1
        self._window_counts = dict.fromkeys(BUCKETS, 0)
        self._locked_window: int | None = None
        self._rate_limited = 0
        self._errors = 0
        self._drops = 0
        self._tokens_issued = 0
        self._reseed(self.config.faults.seed)

    def _reseed(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._next_error = 500

    def reset(self) -> None:
        """Forget tickets, notes, counters and a lockout; keep seed, config and tokens."""
        with self._lock:
            self._reset_state()

    # -- tokens (bloxs-api.md §2.1)

    def issue_token(self, body: Any) -> dict[str, str]:
        _, errors = _load(_AuthorizationRequest(), body)
        if errors:
            raise _Problem(400, errors)
        key, secret = body["apiKey"], body["apiSecret"]
        right = hmac.compare_digest(key.encode(), self.config.api_key.encode())
        right &= hmac.compare_digest(secret.encode(), self.config.api_secret.encode())
        if not right:
            raise _Problem(
                400,
                title="The authorization token can't be created.",
                detail="The API key or API secret is not valid.",
            )
        now = time.time()
        expires = now + self.config.token_lifetime_seconds
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = expires
            self._tokens_issued += 1
        expiration = datetime.fromtimestamp(expires, UTC).isoformat(timespec="milliseconds")
        return {"token": token, "expiration": expiration.replace("+00:00", "Z")}

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > time.time()

    # -- rate limits (bloxs-api.md §2.4) and faults

    def admit(self, bucket: str) -> bool:
        """Count one request; False when the environment is (or now becomes) locked."""
        window = math.floor(time.time() / self.config.window_seconds)
        with self._lock:
            self._requests[bucket] += 1
            if window != self._window:
                self._window = window
                self._window_counts = dict.fromkeys(BUCKETS, 0)
            if self._locked_window == window:
                self._rate_limited += 1
                return False
            limit = self.config.limits.get(bucket)
            if limit is not None and self._window_counts[bucket] >= limit:
                self._locked_window = window
                self._rate_limited += 1
                return False
            self._window_counts[bucket] += 1
            return True

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self.config.faults

    def set_faults(self, body: Any) -> Faults:
        try:
            changes = _FaultsUpdate().load(body if isinstance(body, dict) else {"$": body})
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"$": exc.messages}
            raise _Problem(400, {k: _as_list(v) for k, v in messages.items()}) from exc
        with self._lock:
            self.config.faults = replace(self.config.faults, **changes)
            if "seed" in changes:
                self._reseed(changes["seed"])
            return self.config.faults

    def draw_error(self) -> int | None:
        """500 or 503 (alternating) for the share of requests error_rate asks for."""
        with self._lock:
            if self._rng.random() >= self.config.faults.error_rate:
                return None
            self._errors += 1
            status, self._next_error = self._next_error, 1003 - self._next_error
            return status

    def draw_drop(self) -> bool:
        with self._lock:
            return self._rng.random() < self.config.faults.drop_after_commit

    def count_drop(self) -> None:
        with self._lock:
            self._drops += 1

    # -- service tickets (bloxs-api.md §3)

    def _referential_errors(self, fields_: dict[str, Any]) -> dict[str, list[str]]:
        checks: list[tuple[str, set[str] | tuple[str, ...], str]] = [
            ("stateName", self._states, "Service ticket state '{}' does not exist."),
            (
                "problemCategoryName",
                SEED_PROBLEM_CATEGORIES,
                "Problem category '{}' does not exist.",
            ),
            ("costCategoryName", SEED_COST_CATEGORIES, "Cost category '{}' does not exist."),
            ("realEstateObjectReference", self._objects, "Real estate object '{}' does not exist."),
            ("reporterReference", self._relations, "Relation '{}' does not exist."),
            ("reporterContactPersonReference", self._relations, "Relation '{}' does not exist."),
            ("supplierReference", self._suppliers, "Supplier '{}' does not exist."),
        ]
        errors: dict[str, list[str]] = {}
        for key, known, message in checks:
            value = fields_.get(key)
            if value is not None and value not in known:
                errors[key] = [message.format(value)]
        return errors

    def _checked_ticket(self, schema: Schema, body: Any) -> dict[str, Any]:
        valid, errors = _load(schema, body)
        errors.update({k: v for k, v in self._referential_errors(valid).items() if k not in errors})
        if errors:
            raise _Problem(400, errors)
        return valid

    def _as_ticket(self, fields_: dict[str, Any], reference: str) -> dict[str, Any]:
        ticket = {k: fields_.get(k) for k in _TICKET_FIELDS}
        ticket["reference"] = reference
        ticket["mandateAmount"] = None
        return ticket

    def _find(self, reference: str | None, external: str | None) -> _Record:
        """The ticket both given identifiers name (bloxs-api.md §1.1), else 400 or 404."""
        if not reference and not external:
            raise _Problem(400, {"reference": [_EITHER]})
        by_ext = next(
            (r for r in self._tickets.values() if r.ticket["externalIdentifier"] == external),
            None,
        )
        found = self._tickets.get(reference) if reference else by_ext
        mismatch = found is None or found.ticket["externalIdentifier"] != external
        if reference and external and mismatch and (found, by_ext) != (None, None):
            message = f"'{reference}' and '{external}' do not name the same service ticket."
            raise _Problem(400, {"externalIdentifier": [message]})
        if found is None:
            key, value = ("reference", reference) if reference else ("externalIdentifier", external)
            raise _Problem(404, {key: [f"Service ticket with {key} '{value}' does not exist."]})
        return found

    def create(self, body: Any) -> dict[str, Any]:
        valid = self._checked_ticket(contract.CreateServiceTicket(), body)
        with self._lock:
            external = valid.get("externalIdentifier")
            taken = any(r.ticket["externalIdentifier"] == external for r in self._tickets.values())
            if self.config.unique_external_identifier and external and taken:
                message = f"A service ticket with externalIdentifier '{external}' exists."
                raise _Problem(400, {"externalIdentifier": [message]})
            self._last_number += 1
            reference = f"ST{self._last_number:06d}"
            record = _Record(self._as_ticket(valid, reference))
            self._tickets[reference] = record
            return dict(record.ticket)

    def get(self, reference: str | None, external: str | None) -> dict[str, Any]:
        with self._lock:
            return dict(self._find(reference, external).ticket)

    def update(self, body: Any) -> dict[str, Any]:
        valid = self._checked_ticket(contract.UpdateServiceTicket(), body)
        with self._lock:
            record = self._find(valid.get("reference"), valid.get("externalIdentifier"))
            # A full overwrite (§3.3): fields left out are cleared, only the reference stays.
            record.ticket = self._as_ticket(valid, record.ticket["reference"])
            return dict(record.ticket)

    def done(self, body: Any) -> dict[str, Any]:
        valid = _valid(contract.DoneServiceTicket(), body)
        with self._lock:
            record = self._find(valid.get("reference"), valid.get("externalIdentifier"))
            record.ticket["stateName"] = self._done_state
            record.closing_date = valid.get("closingDate")
            return dict(record.ticket)

    def note(self, body: Any) -> dict[str, Any]:
        valid = _valid(contract.ServiceTicketNote(), body)
        with self._lock:
            record = self._find(valid.get("reference"), valid.get("externalIdentifier"))
            record.notes.append({"message": valid["message"], "createdAt": _now_iso()})
            ticket = record.ticket
            return {
                "reference": ticket["reference"],
                "externalIdentifier": ticket["externalIdentifier"],
                "message": valid["message"],
            }

    def filter(self, body: Any) -> list[dict[str, Any]]:
        valid = _valid(_FilterRequest(), {} if body is None else body)
        wanted = {
            k: valid[k]
            for k in ("reference", "externalIdentifier", "stateName", "priority", "reportingDate")
            if valid.get(k) is not None
        }
        with self._lock:
            hits = [
                dict(r.ticket)
                for r in self._tickets.values()
                if all(r.ticket.get(k) == v for k, v in wanted.items())
            ]
        size, number = valid["paging"]["pageSize"], valid["paging"]["pageNumber"]
        return hits[(number - 1) * size : number * size]

    # -- control

    def tickets_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**r.ticket, "closingDate": r.closing_date, "notes": [dict(n) for n in r.notes]}
                for r in self._tickets.values()
            ]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "rate_limited": self._rate_limited,
                "faults": {"errors": self._errors, "drops": self._drops},
                "tickets": len(self._tickets),
                "notes": sum(len(r.notes) for r in self._tickets.values()),
                "tokens_issued": self._tokens_issued,
            }


# --- HTTP ---------------------------------------------------------------------------------


def _bucket(method: str, path: str) -> str:
    if method == "POST" and path == "/Authorization":
        return "authorization"
    if path.rstrip("/").endswith("/filter"):
        return "filter"
    if method in ("GET", "HEAD"):
        return "get"
    return "update"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
    return None


class _Gate:
    """Latency, rate limits, bearer auth and faults, in front of every non-control route."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        bucket = _bucket(method, path)
        started = time.perf_counter()
        outcome = "answered"
        logged = False

        def log_line(status: int) -> None:
            nonlocal logged
            logged = True
            refused = outcome == "dropped_after_commit" and status != 200
            log.debug(
                "bloxs_sandbox_request",
                method=method,
                path=path,
                bucket=bucket,
                status=status,
                outcome="answered" if refused else outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

        async def logging_send(message: Message) -> None:
            # Logged when the answer starts, so the line is there before the client has it.
            if message["type"] == "http.response.start":
                log_line(message["status"])
            await send(message)

        sandbox = self.sandbox
        faults = sandbox.faults
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if not sandbox.admit(bucket):
            outcome = "rate_limited"
            detail = "The rate limit was exceeded; every request is refused until the window ends."
            await _Problem(429, detail=detail).response()(scope, receive, logging_send)
            return
        if path.startswith("/api/"):
            token = _bearer(scope)
            if token is None or not sandbox.token_valid(token):
                outcome = "unauthenticated"
                detail = "The bearer token is missing, not valid or expired."
                headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                await _Problem(401, detail=detail, headers=headers).response()(
                    scope, receive, logging_send
                )
                return
            error = sandbox.draw_error()
            if error is not None:
                outcome = "injected_error"
                await _Problem(error, detail="Injected by the sandbox.").response()(
                    scope, receive, logging_send
                )
                return
        answer: Send = logging_send
        if (method, path) in _WRITES and sandbox.draw_drop():
            outcome = "dropped_after_commit"  # when it commits (200); else it answers
            answer = _dropping(logging_send, sandbox)
        try:
            await self.app(scope, receive, answer)
        except Exception:
            if not logged:
                outcome = "failed"
                log_line(500)
            raise


def _dropping(send: Send, sandbox: Sandbox) -> Send:
    """Pass the head of a committed (200) write, with its Content-Length, then raise before
    the body: uvicorn closes the connection and the client never learns the outcome."""
    committed = False

    async def wrapped(message: Message) -> None:
        nonlocal committed
        if message["type"] == "http.response.start":
            committed = message["status"] == 200
        if message["type"] == "http.response.body" and committed:
            sandbox.count_drop()
            raise _ConnectionDropped
        await send(message)

    return wrapped


class _QuietDrops(logging.Filter):
    """Keep uvicorn's "Exception in ASGI application" for an injected drop out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _ConnectionDropped)


def _install_quiet_drops() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_QuietDrops())


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return None
    try:
        return await request.json()
    except ValueError as exc:
        raise _Problem(400, {"$": ["The request body is not valid JSON."]}) from exc


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _with_body(action: Callable[[Sandbox, Any], Any]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(action(_sandbox(request), await _json(request)))

    return endpoint


def _answer(action: Callable[[Sandbox], Any]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(action(_sandbox(request)))

    return endpoint


async def _get_ticket(request: Request) -> Response:
    q = request.query_params
    ticket = _sandbox(request).get(q.get("reference") or None, q.get("externalIdentifier") or None)
    return JSONResponse(ticket)


def _names(names: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"name": n} for n in names]


def _reset(sandbox: Sandbox) -> dict[str, Any]:
    sandbox.reset()
    return sandbox.stats()


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Problem)
    return exc.response()


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _Problem(exc.status_code, headers=dict(exc.headers or {})).response()


def create_sandbox_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app; `app.state.sandbox` holds its state."""
    config = config or SandboxConfig()
    sandbox = Sandbox(config)
    routes = [
        Route("/Authorization", _with_body(Sandbox.issue_token), methods=["POST"]),
        Route(TICKETS, _with_body(Sandbox.create), methods=["POST"]),
        Route(TICKETS, _with_body(Sandbox.update), methods=["PUT"]),
        Route(TICKETS, _get_ticket, methods=["GET"]),
        Route(TICKETS + "/done", _with_body(Sandbox.done), methods=["POST"]),
        Route(TICKETS + "/notes", _with_body(Sandbox.note), methods=["POST"]),
        # The real envelope of a paged list is unknown (bloxs-api.md §1.3): a bare array here.
        Route(TICKETS + "/filter", _with_body(Sandbox.filter), methods=["POST"]),
        Route(TICKETS + "/states", _answer(lambda _: [s.as_json() for s in SEED_STATES])),
        Route(TICKETS + "/costscategories", _answer(lambda _: _names(SEED_COST_CATEGORIES))),
        Route("/_sandbox/tickets", _answer(Sandbox.tickets_json)),
        Route("/_sandbox/stats", _answer(Sandbox.stats)),
        Route("/_sandbox/faults", _answer(lambda sandbox: asdict(sandbox.faults))),
        Route(
            "/_sandbox/faults",
            _with_body(lambda sandbox, body: asdict(sandbox.set_faults(body))),
            methods=["PUT"],
        ),
        Route("/_sandbox/reset", _answer(_reset), methods=["POST"]),
        Route("/_sandbox/seed", _answer(lambda _: seed_as_json())),
    ]
    if config.problem_categories:
        # The path is a guess (bloxs-api.md §3.11); switch it off to test the fallback.
        problems = _answer(lambda _: _names(SEED_PROBLEM_CATEGORIES))
        routes.append(Route(TICKETS + "/problemcategories", problems))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Gate, sandbox=sandbox)],
        exception_handlers={
            _Problem: _on_problem,
            HTTPException: _on_http_exception,
        },
    )
    app.state.sandbox = sandbox
    _install_quiet_drops()
    return app

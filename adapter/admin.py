"""The admin API, mounted at /admin: what an operator needs without a database shell.

Every path needs `Authorization: Bearer <admin.token>` (compared in constant time). Without a
configured token the whole API is off and every /admin path answers 404, as if it did not
exist. Errors are RFC 9457 problem+json, like the webhook intake's. Deliveries are shown with
`admin_views.delivery_view`: the Bloxs requests with personal data redacted, never the event.

Each endpoint's docstring, after `---`, is its OpenAPI operation (apispec reads it for
schemas/openapi.json); the Marshmallow schemas below both shape the answers and document them.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog
from marshmallow import Schema, fields
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from adapter.admin_views import delivery_view, parse_time
from adapter.errors import (
    AdapterError,
    BadQuery,
    ConfigError,
    Conflict,
    LookupsInvalid,
    NotFound,
    Unauthenticated,
)
from adapter.store import STATUSES

if TYPE_CHECKING:
    from adapter.app import Runtime

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_PAGE = 200


# --- schemas ---------------------------------------------------------------------------------

_TIME = "Seconds since 1970-01-01 UTC."


class DeliverySchema(Schema):
    deliveryId = fields.String(required=True)
    source = fields.String(required=True)
    deliveryKey = fields.String(required=True, metadata={"description": "The sender's id."})
    externalId = fields.String(allow_none=True, metadata={"description": "The ticket's id."})
    kind = fields.String(required=True, metadata={"enum": ["create", "update", "close", "note"]})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    summary = fields.String(allow_none=True, metadata={"description": "Emptied by retention."})
    attempts = fields.Integer(required=True)
    nextAttemptAt = fields.Float(allow_none=True, metadata={"description": _TIME})
    lastError = fields.String(allow_none=True, metadata={"description": "Why it is not done."})
    bloxsReference = fields.String(allow_none=True)
    requestId = fields.String(allow_none=True, metadata={"description": "X-Request-ID."})
    receivedAt = fields.Float(required=True, metadata={"description": _TIME})
    updatedAt = fields.Float(required=True, metadata={"description": _TIME})
    finishedAt = fields.Float(allow_none=True, metadata={"description": _TIME})


class AttemptSchema(Schema):
    number = fields.Integer(required=True)
    startedAt = fields.Float(required=True, metadata={"description": _TIME})
    finishedAt = fields.Float(required=True, metadata={"description": _TIME})
    outcome = fields.String(required=True)
    error = fields.String(allow_none=True)
    requests = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "The Bloxs requests sent, personal data redacted."},
    )


class DeliveryDetailSchema(DeliverySchema):
    # As `deliveries show` prints it: the attempts themselves instead of their count.
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)  # type: ignore[assignment]


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)
    next = fields.String(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next page."}
    )


class ListQuerySchema(Schema):
    status = fields.String(metadata={"enum": list(STATUSES)})
    source = fields.String()
    external_id = fields.String()
    since = fields.String(
        metadata={"description": "Received at or after: ISO 8601 date(-time) or epoch seconds."}
    )
    until = fields.String(metadata={"description": "Received before; same forms as since."})
    cursor = fields.String(metadata={"description": "The `next` of the previous page."})
    limit = fields.Integer(metadata={"minimum": 1, "maximum": MAX_PAGE, "default": 50})


class ReplayedSchema(Schema):
    deliveryId = fields.String(required=True)
    status = fields.String(required=True)


class ReplayedParkedSchema(Schema):
    source = fields.String(required=True)
    replayed = fields.Integer(required=True)


class LinkSchema(Schema):
    source = fields.String(required=True)
    externalId = fields.String(required=True)
    reference = fields.String(required=True, metadata={"description": "The Bloxs ticket."})


class LookupsReloadedSchema(Schema):
    version = fields.String(required=True, metadata={"description": "Hash of both tables."})


class ProblemSchema(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


SCHEMAS: dict[str, type[Schema]] = {
    "Delivery": DeliverySchema,
    "Attempt": AttemptSchema,
    "DeliveryDetail": DeliveryDetailSchema,
    "DeliveryPage": DeliveryPageSchema,
    "Replayed": ReplayedSchema,
    "ReplayedParked": ReplayedParkedSchema,
    "Link": LinkSchema,
    "LookupsReloaded": LookupsReloadedSchema,
    "Problem": ProblemSchema,
}


# --- endpoints -------------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _when(name: str, text: str | None) -> float | None:
    try:
        return parse_time(text)
    except ValueError:
        raise BadQuery(
            f"{name} is not a time.",
            errors={name: ["use an ISO 8601 date or date-time, or epoch seconds"]},
        ) from None


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise BadQuery("limit is out of range.", errors={"limit": [f"from 1 to {MAX_PAGE}"]})
    return int(text)


async def list_deliveries(request: Request) -> Response:
    """Deliveries, newest first.
    ---
    get:
      summary: List deliveries, filtered and paged
      parameters:
      - in: query
        schema: ListQuerySchema
      responses:
        200:
          description: One page; `next` is null on the last one.
          content:
            application/json:
              schema: DeliveryPageSchema
        400:
          description: A filter is malformed.
          content:
            application/problem+json:
              schema: ProblemSchema
    """
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadQuery(
            f"Unknown status {status!r}.", errors={"status": ["one of: " + ", ".join(STATUSES)]}
        )
    cursor = q.get("cursor") or None
    if cursor is not None and not cursor.isdigit():
        raise BadQuery("cursor is malformed.", errors={"cursor": ["use the `next` of a page"]})
    limit = _limit(q.get("limit"))
    rows = await asyncio.to_thread(
        _runtime(request).store.list,
        status=status,
        source=q.get("source") or None,
        external_id=q.get("external_id") or None,
        since=_when("since", q.get("since")),
        until=_when("until", q.get("until")),
        after_id=int(cursor) if cursor else None,
        limit=limit,
    )
    page = {
        "items": [d.public() for d in rows],
        "next": str(rows[-1].id) if len(rows) == limit else None,
    }
    return JSONResponse(DeliveryPageSchema().dump(page))


async def show_delivery(request: Request) -> Response:
    """One delivery with its attempts.
    ---
    get:
      summary: One delivery, its attempts, their errors and Bloxs requests
      description: Personal data in the Bloxs requests is replaced by "[personal data]".
      parameters:
      - {in: path, name: delivery_id, required: true, schema: {type: string}}
      responses:
        200:
          description: The delivery.
          content:
            application/json:
              schema: DeliveryDetailSchema
        404:
          description: No such delivery.
          content:
            application/problem+json:
              schema: ProblemSchema
    """
    store = _runtime(request).store
    delivery_id = request.path_params["delivery_id"]
    found = await asyncio.to_thread(store.get, delivery_id)
    if found is None:
        raise NotFound(f"No delivery {delivery_id}.")
    attempts = await asyncio.to_thread(store.attempts_of, found.id)
    return JSONResponse(DeliveryDetailSchema().dump(delivery_view(found, attempts)))


async def replay_delivery(request: Request) -> Response:
    """Queue a parked, failed or cancelled delivery again.
    ---
    post:
      summary: Replay one delivery
      parameters:
      - {in: path, name: delivery_id, required: true, schema: {type: string}}
      responses:
        200:
          description: Queued; the dispatcher sends it shortly.
          content:
            application/json:
              schema: ReplayedSchema
        404:
          description: No such delivery.
          content:
            application/problem+json:
              schema: ProblemSchema
        409:
          description: It is pending or done, or its payload was purged.
          content:
            application/problem+json:
              schema: ProblemSchema
    """
    runtime = _runtime(request)
    delivery_id = request.path_params["delivery_id"]
    done = await asyncio.to_thread(runtime.store.replay, delivery_id, time.time())
    if not done:
        found = await asyncio.to_thread(runtime.store.get, delivery_id)
        if found is None:
            raise NotFound(f"No delivery {delivery_id}.")
        why = "its payload was purged" if found.event is None else f"it is {found.status}"
        raise Conflict(f"{delivery_id} cannot be replayed: {why}.")
    _wake(runtime)
    log.info("admin.replay", delivery_id=delivery_id)
    return JSONResponse(ReplayedSchema().dump({"deliveryId": delivery_id, "status": "pending"}))


async def replay_parked(request: Request) -> Response:
    """Queue every parked delivery of a source again.
    ---
    post:
      summary: Replay all parked deliveries of a source
      parameters:
      - {in: path, name: source, required: true, schema: {type: string}}
      responses:
        200:
          description: How many were queued.
          content:
            application/json:
              schema: ReplayedParkedSchema
    """
    runtime = _runtime(request)
    source = request.path_params["source"]
    count = await asyncio.to_thread(runtime.store.replay_parked, time.time(), source)
    if count:
        _wake(runtime)
    log.info("admin.replay_parked", source=source, replayed=count)
    return JSONResponse(ReplayedParkedSchema().dump({"source": source, "replayed": count}))


async def cancel_delivery(request: Request) -> Response:
    """Give up on a delivery that is not done.
    ---
    post:
      summary: Cancel one delivery
      description: It stays listed (status cancelled) and can be replayed until retention.
      parameters:
      - {in: path, name: delivery_id, required: true, schema: {type: string}}
      responses:
        200:
          description: Cancelled.
          content:
            application/json:
              schema: ReplayedSchema
        404:
          description: No such delivery.
          content:
            application/problem+json:
              schema: ProblemSchema
        409:
          description: It is done or cancelled already.
          content:
            application/problem+json:
              schema: ProblemSchema
    """
    store = _runtime(request).store
    delivery_id = request.path_params["delivery_id"]
    if not await asyncio.to_thread(store.cancel, delivery_id, time.time()):
        found = await asyncio.to_thread(store.get, delivery_id)
        if found is None:
            raise NotFound(f"No delivery {delivery_id}.")
        raise Conflict(f"{delivery_id} cannot be cancelled: it is {found.status}.")
    log.info("admin.cancel", delivery_id=delivery_id)
    return JSONResponse(ReplayedSchema().dump({"deliveryId": delivery_id, "status": "cancelled"}))


async def ticket_link(request: Request) -> Response:
    """The Bloxs ticket of a source's external id.
    ---
    get:
      summary: The Bloxs ticket reference of an external id
      parameters:
      - {in: path, name: source, required: true, schema: {type: string}}
      - {in: path, name: external_id, required: true, schema: {type: string}}
      responses:
        200:
          description: The link.
          content:
            application/json:
              schema: LinkSchema
        404:
          description: No ticket was created for it (yet).
          content:
            application/problem+json:
              schema: ProblemSchema
    """
    source = request.path_params["source"]
    external_id = request.path_params["external_id"]
    reference = await asyncio.to_thread(_runtime(request).store.link, source, external_id)
    if reference is None:
        raise NotFound(f"No Bloxs ticket is linked to {external_id} of source {source}.")
    link = {"source": source, "externalId": external_id, "reference": reference}
    return JSONResponse(LinkSchema().dump(link))


async def reload_lookups(request: Request) -> Response:
    """Re-read the lookup tables now.
    ---
    post:
      summary: Reload the lookup tables
      responses:
        200:
          description: Reloaded.
          content:
            application/json:
              schema: LookupsReloadedSchema
        422:
          description: A table is invalid; the tables in use are kept.
          content:
            application/problem+json:
              schema: ProblemSchema
    """
    lookups = _runtime(request).lookups
    try:
        await asyncio.to_thread(lookups.reload)
    except ConfigError as exc:
        raise LookupsInvalid(exc.detail, errors=exc.errors) from exc
    log.info("admin.lookups_reloaded", version=lookups.version)
    return JSONResponse(LookupsReloadedSchema().dump({"version": lookups.version}))


def _wake(runtime: Runtime) -> None:
    if runtime.dispatcher is not None:
        runtime.dispatcher.wakeup.set()


ROUTES = [
    Route("/deliveries", list_deliveries, methods=["GET"]),
    Route("/deliveries/{delivery_id}", show_delivery, methods=["GET"]),
    Route("/deliveries/{delivery_id}/replay", replay_delivery, methods=["POST"]),
    Route("/deliveries/{delivery_id}/cancel", cancel_delivery, methods=["POST"]),
    Route("/sources/{source}/replay-parked", replay_parked, methods=["POST"]),
    Route("/links/{source}/{external_id:path}", ticket_link, methods=["GET"]),
    Route("/lookups/reload", reload_lookups, methods=["POST"]),
]


# --- the mounted app -------------------------------------------------------------------------


def _problem(exc: AdapterError, path: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        exc.problem(path), status_code=exc.status, media_type=PROBLEM_JSON, headers=headers
    )


class AdminApp:
    """Authentication in front of the admin routes; problem+json for every error."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode("utf-8") if token else None
        self._router = Router(routes=ROUTES, default=self._unknown)

    async def _unknown(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("root_path", "") + scope["path"]
        await _problem(NotFound("No such admin endpoint."), path)(scope, receive, send)

    def _authorized(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if self._token is None or scheme.lower() != "bearer" or not given.strip():
            return False
        return hmac.compare_digest(given.strip().encode("utf-8"), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path = request.url.path
        if self._token is None:
            response = _problem(NotFound("The admin API is off: no admin token is set."), path)
            await response(scope, receive, send)
            return
        if not self._authorized(request):
            response = _problem(
                Unauthenticated("Send Authorization: Bearer <the admin token>."),
                path,
                {"WWW-Authenticate": 'Bearer realm="bloxs-adapter admin"'},
            )
            await response(scope, receive, send)
            return
        try:
            await self._router(scope, receive, send)
        except AdapterError as exc:
            await _problem(exc, path)(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]


def operations() -> list[tuple[str, Handler]]:
    """(path under /admin, endpoint) of every admin route, for the OpenAPI document."""
    return [(route.path_format, route.endpoint) for route in ROUTES]

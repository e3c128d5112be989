"""The web app: webhook intake, health, and the dispatcher in the lifespan.

The path of one webhook (see README, "How a webhook is handled"): size limit → the source's
verify() over the raw bytes → parse() into an Event → persisted in one transaction → 202.
Only then does the dispatcher, in the background, send it to Bloxs.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from adapter.admin import AdminApp
from adapter.bloxs.client import BloxsClient
from adapter.catalog import CatalogCache
from adapter.dispatcher import Dispatcher
from adapter.errors import (
    AdapterError,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthenticated,
    UnknownSource,
)
from adapter.events import Event
from adapter.lookups import LookupTables
from adapter.metrics import CONTENT_TYPE, UNKNOWN_SOURCE, Metrics
from adapter.resolve import precheck
from adapter.retention import run_retention
from adapter.settings import Settings
from adapter.sources import SOURCE_TYPES
from adapter.sources.base import Inbound, SourceType
from adapter.store import Store
from adapter.store.budget import budget_for

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass
class Runtime:
    """What the app holds for its lifetime; built in the lifespan, shared by the routes."""

    settings: Settings
    sources: dict[str, SourceType]
    store: Store
    lookups: LookupTables
    client: BloxsClient | None = None
    dispatcher: Dispatcher | None = None
    metrics: Metrics = field(default_factory=Metrics)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def build_sources(settings: Settings) -> dict[str, SourceType]:
    return {name: SOURCE_TYPES[s.type](s) for name, s in settings.sources.items()}


def problem(exc: AdapterError, status: int | None = None, instance: str | None = None) -> Response:
    body = exc.problem(instance)
    if status is not None:
        body["status"] = status
    headers = {"Retry-After": "30"} if isinstance(exc, StoreUnavailable) else None
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _headers(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_key, raw_value in request.headers.raw:
        key = raw_key.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes (before reading it
    all when Content-Length already says so).

    The body is held once: the chunks are written into one buffer reserved at the declared
    size, and CPython's BytesIO.getvalue() hands that buffer over as the bytes object without
    copying it (a list of chunks joined at the end would hold a 30 MiB mail twice).
    """
    declared = request.headers.get("content-length", "")
    expected = int(declared) if declared.isdigit() else 0
    if expected > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; this source accepts {limit}.")
    buffer = io.BytesIO()
    if expected:
        buffer.seek(expected - 1)
        buffer.write(b"\0")
        buffer.seek(0)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over {limit} bytes, the limit of this source.")
        buffer.write(chunk)
    if size != expected:
        buffer.truncate(size)
    return buffer.getvalue()


async def receive_webhook(request: Request) -> Response:
    """Receive one webhook of a configured source.
    ---
    post:
      summary: Receive a webhook
      description: Authenticated per source type (HMAC over the raw body, a token, basic
        auth), mapped, stored, and answered only once stored. The body is whatever the source
        sends (JSON, form fields, multipart mail).
      parameters:
      - {in: path, name: source, required: true, schema: {type: string},
         description: The source's name in the config file.}
      requestBody:
        required: true
        content:
          application/json: {schema: {}}
          application/x-www-form-urlencoded: {schema: {type: object}}
          multipart/form-data: {schema: {type: object}}
      responses:
        200:
          description: A sender's retry of a delivery already stored (duplicate true), or
            stored, for senders that count only 200 as delivered (Postmark, Mailgun).
          content: {application/json: {schema: WebhookAnswerSchema}}
        202:
          description: Stored (status pending, or parked with a reason), or ignored.
          content: {application/json: {schema: WebhookAnswerSchema}}
        401:
          description: Signature or token missing, wrong or too old.
          content: {application/problem+json: {schema: ProblemSchema}}
        404:
          description: No source of this name is configured.
          content: {application/problem+json: {schema: ProblemSchema}}
        413:
          description: The body is over the source's max_body_bytes.
          content: {application/problem+json: {schema: ProblemSchema}}
        422:
          description: Not the source's shape (Postmark is answered 403, Mailgun 406).
          content: {application/problem+json: {schema: ProblemSchema}}
        503:
          description: The store cannot be reached; retry later.
          content: {application/problem+json: {schema: ProblemSchema}}
    """
    runtime: Runtime = request.app.state.runtime
    started = time.perf_counter()
    name = request.path_params["source"]
    line: dict[str, Any] = {"source": name}
    status = 500
    source: SourceType | None = None
    try:
        source = runtime.sources.get(name)
        if source is None:
            raise UnknownSource(f"No source named '{name}' is configured.")
        line["source_type"] = source.type_name
        response = await _intake(runtime, source, request, line)
        status = response.status_code
        return response
    except AdapterError as exc:
        status = exc.status
        if source is not None and isinstance(exc, Unauthenticated):
            status = source.unauthenticated_status
        elif source is not None and exc.status == 422:
            status = source.invalid_status
        line.update(outcome="rejected", reason=exc.detail)
        return problem(exc, status, request.url.path)
    finally:
        line.setdefault("outcome", "error")
        log.info(
            "webhook",
            **line,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            request_id=structlog.contextvars.get_contextvars().get("request_id"),
        )
        runtime.metrics.webhook(name if source is not None else UNKNOWN_SOURCE, line["outcome"])


async def _intake(
    runtime: Runtime, source: SourceType, request: Request, line: dict[str, Any]
) -> Response:
    body = await read_body(request, source.settings.max_body_bytes)
    inbound = Inbound(
        headers=_headers(request),
        body=body,
        received_at=datetime.now(UTC),
        query=dict(request.query_params),
    )
    verified = source.verify(inbound)
    event = source.parse(inbound)
    line.update(event_kind=event.kind, external_id=event.external_id)
    if event.kind == "ignore":
        line["outcome"] = "ignored"
        return JSONResponse({"ignored": event.ignore_reason}, status_code=202)
    event = await _thread(runtime, event)
    line["event_kind"] = event.kind
    parked = precheck(event, runtime.lookups, source.settings)
    accepted = await asyncio.to_thread(
        runtime.store.accept,
        event,
        body_sha256=hashlib.sha256(body).hexdigest(),
        now=time.time(),
        nonce=verified.nonce,
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
        parked_reason=parked,
    )
    line["delivery_id"] = accepted.delivery_id
    if accepted.duplicate:
        line["outcome"] = "duplicate"
        return JSONResponse({"deliveryId": accepted.delivery_id, "duplicate": True})
    if runtime.dispatcher is not None:
        runtime.dispatcher.wakeup.set()
    answer: dict[str, Any] = {"deliveryId": accepted.delivery_id, "status": accepted.status}
    if parked:
        answer["reason"] = parked
    line["outcome"] = "parked" if parked else "accepted"
    # Postmark and Mailgun count only 200 as delivered and retry a 202 for hours.
    return JSONResponse(answer, status_code=source.accepted_status)


async def _thread(runtime: Runtime, event: Event) -> Event:
    """A mail that answers a mail which already made a ticket becomes a note on that ticket."""
    if event.kind != "create" or not event.thread_ids:
        return event
    ticket = await asyncio.to_thread(runtime.store.find_thread, event.source, event.thread_ids)
    if ticket is None or ticket == event.external_id:
        return event
    return replace(event, kind="note", external_id=ticket, notes_after_create=())


async def healthz(request: Request) -> Response:
    """The process is alive (nothing else is checked).
    ---
    get:
      summary: Liveness
      responses:
        200:
          description: Alive.
          content: {application/json: {schema: HealthSchema}}
    """
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The store answers and the config (lookup tables included) is usable.
    ---
    get:
      summary: Readiness
      responses:
        200:
          description: Ready to take webhooks.
          content: {application/json: {schema: ReadySchema}}
        503:
          description: Not ready; `problems` says why.
          content: {application/json: {schema: ReadySchema}}
    """
    runtime: Runtime = request.app.state.runtime
    problems: list[str] = []
    try:
        await asyncio.to_thread(runtime.store.ping)
    except StoreUnavailable:
        problems.append("store unreachable")
    try:
        # reload(), unlike reload_if_changed(), raises on a bad table (and keeps the old one).
        await asyncio.to_thread(runtime.lookups.reload)
    except AdapterError as exc:
        problems.append(f"lookup tables: {exc.detail}")
    if not runtime.sources:
        problems.append("config: no source is configured")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    """Prometheus metrics.
    ---
    get:
      summary: Prometheus metrics (text exposition format)
      responses:
        200:
          description: The metrics; see the README for each one.
          content: {text/plain: {schema: {type: string}}}
    """
    runtime: Runtime = request.app.state.runtime
    body = await asyncio.to_thread(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)


ROUTES = [
    Route("/webhooks/{source}", receive_webhook, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
ADMIN_PREFIX = "/admin"


class RequestIdMiddleware:
    """Takes X-Request-ID (or makes one), binds it to the log context, echoes it back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 100 and given.isprintable() else uuid.uuid4().hex

        async def send_with_id(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


def create_app(
    settings: Settings,
    *,
    bloxs_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The adapter. `bloxs_transport` lets tests route the Bloxs client in-process."""
    # One registry per app (not prometheus_client's global one): apps in one process keep
    # their own numbers.
    metrics_ = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.store_url)
        await asyncio.to_thread(store.migrate)
        runtime = Runtime(
            settings=settings,
            sources=build_sources(settings),
            store=store,
            lookups=LookupTables(settings.lookups, check_interval=0.0),
            metrics=metrics_,
        )
        app.state.runtime = runtime
        budget = budget_for(store.engine, settings.bloxs.budgets)
        runtime.client = BloxsClient(
            settings.bloxs, transport=bloxs_transport, budget=budget, on_call=metrics_.bloxs_call
        )
        metrics_.attach(
            store=store,
            sources=settings.sources,
            budget=budget,
            budgets=settings.bloxs.budgets,
            client=runtime.client,
        )
        if settings.dispatcher.enabled:
            runtime.dispatcher = Dispatcher(
                store=store,
                client=runtime.client,
                lookups=runtime.lookups,
                sources=settings.sources,
                settings=settings.dispatcher,
                catalog=CatalogCache(runtime.client, settings.bloxs.catalog_refresh_seconds),
                on_outcome=metrics_.delivery_outcome,
            )
            runtime.tasks.append(asyncio.create_task(runtime.dispatcher.run(runtime.stop)))
        runtime.tasks.append(
            asyncio.create_task(
                run_retention(
                    store,
                    settings.retention,
                    runtime.stop,
                    on_purged=lambda p: metrics_.purged(p.payloads, p.rows),
                )
            )
        )
        try:
            yield
        finally:
            runtime.stop.set()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await runtime.client.aclose()
            metrics_.detach()
            store.close()

    admin_token = settings.admin.token
    routes = [*ROUTES, Mount(ADMIN_PREFIX, app=AdminApp(str(admin_token) if admin_token else None))]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestIdMiddleware)
    return app

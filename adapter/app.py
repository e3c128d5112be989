"""The web app: webhook intake, health, and the dispatcher in the lifespan.

The path of one webhook (see README, "How a webhook is handled"): size limit → the source's
verify() over the raw bytes → parse() into an Event → persisted in one transaction → 202.
Only then does the dispatcher, in the background, send it to Bloxs.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from starlette.routing import Route

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
from adapter.resolve import precheck
from adapter.settings import Settings
from adapter.sources import SOURCE_TYPES
from adapter.sources.base import Inbound, SourceType
from adapter.store import Store

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
    all when Content-Length already says so)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; this source accepts {limit}.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over {limit} bytes, the limit of this source.")
        chunks.append(chunk)
    body = b"".join(chunks)
    chunks.clear()
    return body


async def receive_webhook(request: Request) -> Response:
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
        log.info(
            "webhook",
            **line,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )


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
    return JSONResponse(answer, status_code=202)


async def _thread(runtime: Runtime, event: Event) -> Event:
    """A mail that answers a mail which already made a ticket becomes a note on that ticket."""
    if event.kind != "create" or not event.thread_ids:
        return event
    ticket = await asyncio.to_thread(runtime.store.find_thread, event.source, event.thread_ids)
    if ticket is None or ticket == event.external_id:
        return event
    return replace(event, kind="note", external_id=ticket, notes_after_create=())


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    problems: list[str] = []
    try:
        await asyncio.to_thread(runtime.store.ping)
    except StoreUnavailable:
        problems.append("store unreachable")
    try:
        runtime.lookups.reload_if_changed()
    except AdapterError as exc:
        problems.append(f"lookup tables: {exc.detail}")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


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

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.store_url)
        await asyncio.to_thread(store.migrate)
        runtime = Runtime(
            settings=settings,
            sources=build_sources(settings),
            store=store,
            lookups=LookupTables(settings.lookups, check_interval=0.0),
        )
        app.state.runtime = runtime
        runtime.client = BloxsClient(settings.bloxs, transport=bloxs_transport)
        if settings.dispatcher.enabled:
            runtime.dispatcher = Dispatcher(
                store=store,
                client=runtime.client,
                lookups=runtime.lookups,
                sources=settings.sources,
                settings=settings.dispatcher,
                catalog=CatalogCache(runtime.client, settings.bloxs.catalog_refresh_seconds),
            )
            runtime.tasks.append(asyncio.create_task(runtime.dispatcher.run(runtime.stop)))
        try:
            yield
        finally:
            runtime.stop.set()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await runtime.client.aclose()
            store.close()

    routes = [
        Route("/webhooks/{source}", receive_webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestIdMiddleware)
    return app

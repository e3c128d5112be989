"""The dispatcher: claims stored deliveries and carries them out in Bloxs.

Runs inside `serve` (in every replica) and alone as `bloxs-adapter worker`. Each worker task
claims one due delivery at a time; the store hands out a ticket's deliveries one at a time,
oldest first, so an update never overtakes its create.

Exactly-once towards Bloxs rests on three things: the ticket link (source, external id) →
reference is written right after the create returns; a delivery that was claimed before
(a crash, a lost lease) looks its ticket up by externalIdentifier before creating; and the
client itself does the same when a create's outcome is unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from adapter.bloxs.client import BloxsClient
from adapter.bloxs.contract import ContractViolation
from adapter.bloxs.errors import (
    BloxsError,
    BloxsNotFound,
    BloxsValidationError,
)
from adapter.catalog import CatalogCache
from adapter.errors import Park, StoreUnavailable
from adapter.events import Event
from adapter.lookups import LookupTables
from adapter.resolve import build_create, merge_update
from adapter.settings import DispatcherSettings, SourceSettings
from adapter.store import Delivery, Store

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass
class Outcome:
    status: str
    outcome: str
    error: str | None = None
    reference: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        client: BloxsClient,
        lookups: LookupTables,
        sources: Mapping[str, SourceSettings],
        settings: DispatcherSettings,
        catalog: CatalogCache,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[Delivery, Outcome], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.lookups = lookups
        self.sources = sources
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        self.on_outcome = on_outcome
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        workers = [
            asyncio.create_task(self._worker(stop), name=f"dispatcher-{n}")
            for n in range(self.settings.concurrency)
        ]
        try:
            await stop.wait()
        finally:
            # Let each worker finish the delivery in hand: a task cancelled inside
            # asyncio.to_thread leaves its thread using the store while the app closes it.
            # What is still running after the grace period is cancelled; its lease expires
            # and another worker takes the delivery over.
            self.wakeup.set()
            _, late = await asyncio.wait(workers, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("dispatcher.error")
                worked = False
            if not worked:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.wakeup.wait(), timeout=self.settings.poll_interval_seconds
                    )

    async def run_once(self) -> bool:
        """Claim and carry out one due delivery; False when none was due."""
        now = self.clock()
        delivery = await asyncio.to_thread(
            self.store.claim, self.owner, now, self.settings.lease_seconds
        )
        if delivery is None:
            return False
        await self.process(delivery)
        # Another delivery of the same ticket may have been waiting for this one.
        self.wakeup.set()
        return True

    async def process(self, delivery: Delivery) -> Outcome:
        # The Bloxs calls of this delivery carry the request id of the webhook that caused it
        # (the client sends the bound request_id as X-Request-ID), and their log lines name it.
        with structlog.contextvars.bound_contextvars(
            request_id=delivery.request_id, delivery_id=delivery.delivery_id
        ):
            return await self._process(delivery)

    async def _process(self, delivery: Delivery) -> Outcome:
        started = self.clock()
        bound = log.bind(
            delivery_id=delivery.delivery_id,
            source=delivery.source,
            external_id=delivery.external_id,
            kind=delivery.kind,
            attempt=delivery.attempts,
        )
        outcome = await self._outcome(delivery)
        next_attempt = None
        if outcome.status == "pending":
            if delivery.attempts >= self.settings.max_attempts:
                outcome.status = "failed"
            else:
                next_attempt = self.clock() + self._backoff(delivery.attempts)
        finished = await asyncio.to_thread(
            self.store.finish,
            delivery.id,
            self.owner,
            status=outcome.status,
            now=self.clock(),
            started_at=started,
            attempt_number=delivery.attempts,
            outcome=outcome.outcome,
            error=outcome.error,
            next_attempt_at=next_attempt,
            reference=outcome.reference,
            requests=outcome.requests,
        )
        if not finished:
            bound.warning("delivery.lease_lost")
        level = "info" if outcome.status in ("done", "pending") else "warning"
        getattr(bound, level)(
            "delivery.attempt",
            status=outcome.status,
            outcome=outcome.outcome,
            reason=outcome.error,
            bloxs_reference=outcome.reference,
            duration_ms=round((self.clock() - started) * 1000, 1),
        )
        if self.on_outcome is not None:
            self.on_outcome(delivery, outcome)
        return outcome

    def _backoff(self, attempts: int) -> float:
        ceiling = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_base_seconds * 2 ** max(0, attempts - 1),
        )
        return random.uniform(ceiling / 2, ceiling)

    async def _outcome(self, delivery: Delivery) -> Outcome:
        requests: list[dict[str, Any]] = []
        try:
            reference, what = await self._apply(delivery, requests)
        except Park as exc:
            return Outcome("parked", "parked", exc.reason, requests=requests)
        except BloxsValidationError as exc:
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
            reason = f"Bloxs refused the request ({exc.status}): {errors or exc}"
            if exc.trace_id:
                reason += f" [traceId {exc.trace_id}]"
            return Outcome("parked", "rejected", reason, requests=requests)
        except BloxsNotFound as exc:
            return Outcome("parked", "not_found", str(exc), requests=requests)
        except ContractViolation as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            return Outcome(
                "parked", "invalid", f"Invalid Bloxs request: {details}", requests=requests
            )
        except BloxsError as exc:
            return Outcome("pending", "retry", str(exc), requests=requests)
        except StoreUnavailable as exc:
            # The shared rate budget or the ticket links could not be read: try again later.
            return Outcome("pending", "retry", exc.detail, requests=requests)
        except Exception as exc:
            log.exception("delivery.crashed", delivery_id=delivery.delivery_id)
            return Outcome("pending", "error", f"internal error: {type(exc).__name__}")
        return Outcome("done", what, reference=reference, requests=requests)

    async def _apply(
        self, delivery: Delivery, requests: list[dict[str, Any]]
    ) -> tuple[str | None, str]:
        event = delivery.event
        if event is None:
            raise Park("The payload of this delivery was purged; it cannot be sent again.")
        source = self.sources.get(delivery.source)
        if source is None:
            raise Park(f"Source '{delivery.source}' is no longer configured.")
        if not event.external_id:
            raise Park("The event carries no external id to identify its ticket.")
        self.lookups.reload_if_changed()
        link = await asyncio.to_thread(self.store.link, delivery.source, event.external_id)

        if event.kind == "create" or link is None:
            if event.kind != "create" and source.missing_ticket != "create":
                raise Park(
                    f"No Bloxs ticket exists for {event.external_id} (its create was never"
                    f" sent; source '{source.name}' has missing_ticket: park). Replay the"
                    " create first, or set missing_ticket: create."
                )
            link, created = await self._ensure_ticket(delivery, event, link, source, requests)
            if event.kind == "create":
                await self._notes_after_create(delivery, event, link, requests)
                return link, "created" if created else "already_created"

        if event.kind == "update":
            return link, await self._update(event, link, source, requests)
        if event.kind == "close":
            closing = datetime.fromtimestamp(delivery.received_at, UTC)
            requests.append({"operation": "close", "reference": link})
            await self.client.close_ticket(reference=link, closing_date=closing)
            return link, "closed"
        if event.kind == "note":
            message = event.note or event.summary or ""
            requests.append({"operation": "note", "body": {"reference": link, "message": message}})
            await self.client.add_note(reference=link, message=message)
            return link, "noted"
        raise Park(f"Event kind '{event.kind}' is not sent to Bloxs.")

    async def _ensure_ticket(
        self,
        delivery: Delivery,
        event: Event,
        link: str | None,
        source: SourceSettings,
        requests: list[dict[str, Any]],
    ) -> tuple[str, bool]:
        assert event.external_id is not None
        if link is not None:
            return link, False
        if delivery.attempts > 1:
            # An earlier attempt may have created the ticket and died before recording it.
            found = await self.client.get(external_identifier=event.external_id)
            if found is not None:
                await self._link(delivery, event.external_id, str(found["reference"]))
                return str(found["reference"]), False
        catalog = await self.catalog.get()
        body = build_create(event, self.lookups, catalog, source)
        requests.append({"operation": "create", "body": body})
        ticket = await self.client.create(body)
        reference = str(ticket["reference"])
        await self._link(delivery, event.external_id, reference)
        return reference, True

    async def _link(self, delivery: Delivery, external_id: str, reference: str) -> None:
        now = self.clock()
        await asyncio.to_thread(self.store.set_link, delivery.source, external_id, reference, now)
        await asyncio.to_thread(self.store.step_done, delivery.id, self.owner, 1, now)

    async def _notes_after_create(
        self, delivery: Delivery, event: Event, reference: str, requests: list[dict[str, Any]]
    ) -> None:
        # steps: 1 = the ticket exists; 1 + n = note n posted. Skips what an earlier attempt did.
        done = max(delivery.steps_done, 1)
        for index, message in enumerate(event.notes_after_create, start=1):
            if index < done:
                continue
            requests.append(
                {"operation": "note", "body": {"reference": reference, "message": message}}
            )
            await self.client.add_note(reference=reference, message=message)
            await asyncio.to_thread(
                self.store.step_done, delivery.id, self.owner, index + 1, self.clock()
            )

    async def _update(
        self, event: Event, reference: str, source: SourceSettings, requests: list[dict[str, Any]]
    ) -> str:
        current = await self.client.get(reference=reference)
        if current is None:
            raise Park(f"Bloxs has no ticket {reference} any more (deleted in Bloxs?).")
        catalog = await self.catalog.get()
        body = merge_update(current, event, catalog, source)
        if body is None:
            return "unchanged"
        requests.append({"operation": "update", "body": body})
        await self.client.update(body)
        return "updated"

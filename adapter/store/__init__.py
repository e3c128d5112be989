"""The only code that touches the database: deliveries, their attempts, ticket links, nonces.

SQLite (one process, WAL, every write synchronous) or PostgreSQL (several replicas: claims
take `FOR UPDATE SKIP LOCKED`). The methods are synchronous and short; async callers run them
with `asyncio.to_thread`. Every method is one transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from adapter.errors import StoreUnavailable, Unauthenticated
from adapter.events import Event
from adapter.store.tables import attempts, deliveries, metadata, nonces, ticket_links

STATUSES = ("pending", "done", "parked", "failed", "cancelled")


@dataclass(frozen=True)
class Accepted:
    delivery_id: str
    duplicate: bool
    status: str


@dataclass(frozen=True)
class Delivery:
    id: int
    delivery_id: str
    source: str
    delivery_key: str
    external_id: str | None
    kind: str
    status: str
    event: Event | None
    summary: str | None
    attempts: int
    steps_done: int
    next_attempt_at: float
    last_error: str | None
    bloxs_reference: str | None
    request_id: str | None
    received_at: float
    updated_at: float
    finished_at: float | None
    lease_owner: str | None = None

    def public(self) -> dict[str, Any]:
        """The fields an operator sees (admin API, CLI); the event itself is not included."""
        return {
            "deliveryId": self.delivery_id,
            "source": self.source,
            "deliveryKey": self.delivery_key,
            "externalId": self.external_id,
            "kind": self.kind,
            "status": self.status,
            "summary": self.summary,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at if self.status == "pending" else None,
            "lastError": self.last_error,
            "bloxsReference": self.bloxs_reference,
            "requestId": self.request_id,
            "receivedAt": self.received_at,
            "updatedAt": self.updated_at,
            "finishedAt": self.finished_at,
        }


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: float
    finished_at: float
    outcome: str
    error: str | None
    requests: list[dict[str, Any]] | None


def _delivery(row: Any) -> Delivery:
    raw = row.event
    return Delivery(
        id=row.id,
        delivery_id=row.delivery_id,
        source=row.source,
        delivery_key=row.delivery_key,
        external_id=row.external_id,
        kind=row.kind,
        status=row.status,
        event=Event.from_json(json.loads(raw)) if raw else None,
        summary=row.summary,
        attempts=row.attempts,
        steps_done=row.steps_done,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        bloxs_reference=row.bloxs_reference,
        request_id=row.request_id,
        received_at=row.received_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        lease_owner=row.lease_owner,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would BEGIN lazily (DEFERRED); we emit BEGIN
    # IMMEDIATE ourselves so two processes on one file never both read-then-write.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a transaction is on disk before COMMIT returns, so the 202 that follows it is
    # never for a delivery a crash (or power cut) could lose.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=5, max_overflow=5, pool_pre_ping=True)
    raise ValueError(f"unsupported store URL scheme: {parsed.drivername}")


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name

    def migrate(self) -> None:
        with self._begin() as conn:
            metadata.create_all(conn)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (OperationalError, SQLAlchemyError) as exc:
            raise StoreUnavailable(
                "The delivery store cannot be reached; the sender should retry."
            ) from exc

    def ping(self) -> None:
        with self._begin() as conn:
            conn.execute(select(1))

    # --- intake --------------------------------------------------------------------------

    def accept(
        self,
        event: Event,
        *,
        body_sha256: str,
        now: float,
        nonce: str | None = None,
        request_id: str | None = None,
        parked_reason: str | None = None,
    ) -> Accepted:
        """Persist one delivery, or recognise it as a duplicate of one already stored.

        Nothing is written for a duplicate. A nonce (Mailgun's token) seen before with another
        body is refused (a replayed token with altered fields); with the same body it is the
        sender's retry, answered as a duplicate.
        """
        key = (event.source, event.delivery_key)
        existing = self._existing(*key, nonce, body_sha256)
        if existing is not None:
            return existing
        delivery_id = "dlv_" + uuid.uuid4().hex[:24]
        status = "parked" if parked_reason else "pending"
        try:
            with self._begin() as conn:
                if nonce is not None:
                    seen = conn.execute(
                        select(nonces.c.body_sha256).where(
                            nonces.c.source == event.source, nonces.c.nonce == nonce
                        )
                    ).first()
                    if seen is not None:
                        raise Unauthenticated("This signed token was already used.")
                    conn.execute(
                        insert(nonces).values(
                            source=event.source, nonce=nonce, body_sha256=body_sha256, seen_at=now
                        )
                    )
                conn.execute(
                    insert(deliveries).values(
                        delivery_id=delivery_id,
                        source=event.source,
                        delivery_key=event.delivery_key,
                        external_id=event.external_id,
                        kind=event.kind,
                        status=status,
                        event=json.dumps(event.to_json(), ensure_ascii=False),
                        summary=event.summary,
                        body_sha256=body_sha256,
                        request_id=request_id,
                        attempts=0,
                        steps_done=0,
                        next_attempt_at=now,
                        last_error=parked_reason,
                        received_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            # A concurrent request with the same delivery key won the insert.
            existing = self._existing(*key, nonce, body_sha256)
            if existing is None:
                raise
            return existing
        return Accepted(delivery_id, duplicate=False, status=status)

    def _existing(
        self, source: str, delivery_key: str, nonce: str | None, body_sha256: str
    ) -> Accepted | None:
        with self._begin() as conn:
            row = conn.execute(
                select(
                    deliveries.c.delivery_id, deliveries.c.status, deliveries.c.body_sha256
                ).where(deliveries.c.source == source, deliveries.c.delivery_key == delivery_key)
            ).first()
        if row is None:
            return None
        if nonce is not None and row.body_sha256 != body_sha256:
            # The sender's retry repeats its post byte for byte; the same one-time token with
            # other content is a replay with altered fields (Mailgun signs only
            # timestamp + token, not the message).
            raise Unauthenticated("This signed token was already used for another message.")
        return Accepted(row.delivery_id, duplicate=True, status=row.status)

    def find_thread(self, source: str, external_ids: Sequence[str]) -> str | None:
        """The first of `external_ids` that is a ticket of this source (linked, or created
        by a delivery not yet sent)."""
        if not external_ids:
            return None
        with self._begin() as conn:
            linked = {
                r.external_id
                for r in conn.execute(
                    select(ticket_links.c.external_id).where(
                        ticket_links.c.source == source,
                        ticket_links.c.external_id.in_(list(external_ids)),
                    )
                )
            }
            created = {
                r.external_id
                for r in conn.execute(
                    select(deliveries.c.external_id).where(
                        deliveries.c.source == source,
                        deliveries.c.kind == "create",
                        deliveries.c.status.in_(("pending", "done", "parked", "failed")),
                        deliveries.c.external_id.in_(list(external_ids)),
                    )
                )
            }
        for external_id in external_ids:
            if external_id in linked or external_id in created:
                return external_id
        return None

    # --- dispatching ---------------------------------------------------------------------

    def claim(self, owner: str, now: float, lease_seconds: float) -> Delivery | None:
        """Lease the oldest due delivery whose ticket has no older delivery still pending.

        Deliveries of one (source, external id) are therefore sent one at a time and in the
        order they were received; different tickets go in parallel.
        """
        d = deliveries.alias("d")
        e = deliveries.alias("e")
        older_pending = exists().where(
            e.c.source == d.c.source,
            e.c.external_id == d.c.external_id,
            e.c.status == "pending",
            e.c.id < d.c.id,
        )
        query = (
            select(d.c.id)
            .where(
                d.c.status == "pending",
                d.c.next_attempt_at <= now,
                or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                ~older_pending,
            )
            .order_by(d.c.id)
            .limit(1)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=d)
        with self._begin() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(
                    lease_owner=owner,
                    lease_until=now + lease_seconds,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=now,
                )
            )
            claimed = conn.execute(select(deliveries).where(deliveries.c.id == row.id)).one()
        return _delivery(claimed)

    def step_done(self, pk: int, owner: str, steps_done: int, now: float) -> None:
        """Record progress inside a delivery (create done, note 1 of 2 done, ...), so that a
        retry after a crash does not repeat what Bloxs already has."""
        with self._begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == pk, deliveries.c.lease_owner == owner)
                .values(steps_done=steps_done, updated_at=now)
            )

    def finish(
        self,
        pk: int,
        owner: str,
        *,
        status: str,
        now: float,
        started_at: float,
        attempt_number: int,
        outcome: str,
        error: str | None = None,
        next_attempt_at: float | None = None,
        reference: str | None = None,
        requests: list[dict[str, Any]] | None = None,
    ) -> bool:
        """End an attempt: done, parked, failed, or back to pending at next_attempt_at.
        False when the lease was lost (another worker took the delivery over)."""
        values: dict[str, Any] = {
            "status": status,
            "lease_owner": None,
            "lease_until": None,
            "last_error": error,
            "updated_at": now,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if reference is not None:
            values["bloxs_reference"] = reference
        if status in ("done", "cancelled"):
            values["finished_at"] = now
        with self._begin() as conn:
            result = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == pk, deliveries.c.lease_owner == owner)
                .values(**values)
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                insert(attempts).values(
                    delivery_pk=pk,
                    number=attempt_number,
                    started_at=started_at,
                    finished_at=now,
                    outcome=outcome,
                    error=error,
                    requests=json.dumps(requests, ensure_ascii=False) if requests else None,
                )
            )
        return True

    # --- ticket links --------------------------------------------------------------------

    def link(self, source: str, external_id: str) -> str | None:
        with self._begin() as conn:
            row = conn.execute(
                select(ticket_links.c.reference).where(
                    ticket_links.c.source == source, ticket_links.c.external_id == external_id
                )
            ).first()
        return row.reference if row else None

    def set_link(self, source: str, external_id: str, reference: str, now: float) -> None:
        with self._begin() as conn:
            current = conn.execute(
                select(ticket_links.c.reference).where(
                    ticket_links.c.source == source, ticket_links.c.external_id == external_id
                )
            ).first()
            if current is None:
                conn.execute(
                    insert(ticket_links).values(
                        source=source, external_id=external_id, reference=reference, created_at=now
                    )
                )

    # --- operators -------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Delivery | None:
        with self._begin() as conn:
            row = conn.execute(
                select(deliveries).where(deliveries.c.delivery_id == delivery_id)
            ).first()
        return _delivery(row) if row else None

    def attempts_of(self, pk: int) -> list[Attempt]:
        with self._begin() as conn:
            rows = conn.execute(
                select(attempts).where(attempts.c.delivery_pk == pk).order_by(attempts.c.id)
            ).all()
        return [
            Attempt(
                number=r.number,
                started_at=r.started_at,
                finished_at=r.finished_at,
                outcome=r.outcome,
                error=r.error,
                requests=json.loads(r.requests) if r.requests else None,
            )
            for r in rows
        ]

    def list(
        self,
        *,
        status: str | None = None,
        source: str | None = None,
        external_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Newest first; page with `after_id` = the `id` of the last delivery of a page."""
        conditions = []
        if status:
            conditions.append(deliveries.c.status == status)
        if source:
            conditions.append(deliveries.c.source == source)
        if external_id:
            conditions.append(deliveries.c.external_id == external_id)
        if since is not None:
            conditions.append(deliveries.c.received_at >= since)
        if until is not None:
            conditions.append(deliveries.c.received_at < until)
        if after_id is not None:
            conditions.append(deliveries.c.id < after_id)
        query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if conditions:
            query = query.where(and_(*conditions))
        with self._begin() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def replay(self, delivery_id: str, now: float) -> bool:
        """Send a parked, failed or cancelled delivery again (after its cause was fixed)."""
        with self._begin() as conn:
            result = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.delivery_id == delivery_id,
                    deliveries.c.status.in_(("parked", "failed", "cancelled")),
                    deliveries.c.event.is_not(None),
                )
                .values(status="pending", next_attempt_at=now, updated_at=now, finished_at=None)
            )
            return result.rowcount == 1

    def replay_parked(self, now: float, source: str | None = None) -> int:
        condition = deliveries.c.status == "parked"
        if source:
            condition = and_(condition, deliveries.c.source == source)
        with self._begin() as conn:
            result = conn.execute(
                update(deliveries)
                .where(condition)
                .values(status="pending", next_attempt_at=now, updated_at=now)
            )
            return result.rowcount

    def cancel(self, delivery_id: str, now: float) -> bool:
        """Give up on a delivery that is not done yet; it stays listed and can be replayed."""
        with self._begin() as conn:
            result = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.delivery_id == delivery_id,
                    deliveries.c.status.in_(("pending", "parked", "failed")),
                )
                .values(
                    status="cancelled",
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            return result.rowcount == 1

    def counts(self) -> dict[str, dict[str, int]]:
        """{status: {source: n}}"""
        query = select(deliveries.c.status, deliveries.c.source, func.count()).group_by(
            deliveries.c.status, deliveries.c.source
        )
        out: dict[str, dict[str, int]] = {s: {} for s in STATUSES}
        with self._begin() as conn:
            for status, source, n in conn.execute(query):
                out.setdefault(status, {})[source] = n
        return out

    def oldest_pending(self) -> float | None:
        with self._begin() as conn:
            value = conn.execute(
                select(func.min(deliveries.c.received_at)).where(deliveries.c.status == "pending")
            ).scalar()
        return float(value) if value is not None else None

    # --- retention -------------------------------------------------------------------------

    def purge_payloads(self, *, done_before: float, limit: int = 500) -> int:
        """Empty the payload (the event, its summary, the Bloxs requests of its attempts) of
        up to `limit` done or cancelled deliveries finished before `done_before`; the row stays
        as the audit trail. Parked and failed deliveries are never touched. Returns how many."""
        with self._begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    select(deliveries.c.id)
                    .where(
                        deliveries.c.status.in_(("done", "cancelled")),
                        deliveries.c.finished_at < done_before,
                        or_(deliveries.c.event.is_not(None), deliveries.c.summary.is_not(None)),
                    )
                    .order_by(deliveries.c.id)
                    .limit(limit)
                )
            ]
            if not ids:
                return 0
            conn.execute(
                update(attempts)
                .where(attempts.c.delivery_pk.in_(ids), attempts.c.requests.is_not(None))
                .values(requests=None)
            )
            conn.execute(
                update(deliveries).where(deliveries.c.id.in_(ids)).values(event=None, summary=None)
            )
        return len(ids)

    def delete_finished(self, *, before: float, limit: int = 500) -> int:
        """Delete up to `limit` done or cancelled deliveries (and their attempts) finished
        before `before`. Their ticket links stay: a later update of the ticket needs them."""
        with self._begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    select(deliveries.c.id)
                    .where(
                        deliveries.c.status.in_(("done", "cancelled")),
                        deliveries.c.finished_at < before,
                    )
                    .order_by(deliveries.c.id)
                    .limit(limit)
                )
            ]
            if not ids:
                return 0
            conn.execute(delete(attempts).where(attempts.c.delivery_pk.in_(ids)))
            conn.execute(delete(deliveries).where(deliveries.c.id.in_(ids)))
        return len(ids)

    def purge_nonces(self, *, before: float) -> int:
        with self._begin() as conn:
            return conn.execute(delete(nonces).where(nonces.c.seen_at < before)).rowcount

    def row_counts(self) -> dict[str, int]:
        """Rows per table, for the retention bench and the operator's curiosity."""
        with self._begin() as conn:
            return {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (deliveries, attempts, ticket_links, nonces)
            }

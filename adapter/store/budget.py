"""The Bloxs rate budget kept in the database, so every replica counts the same requests.

Bloxs's limits are per environment and a request over them locks every API user out
(https://www.bloxs.io/apidocs/rate-limit-1); a budget per replica would let N replicas send N
times the budget. `SharedBudget` is the algorithm of `adapter.bloxs.ratelimit` (a sliding log
of send times over `window + margin`, with spacing) on the `rate_sends` table:

- per `acquire`, one short transaction serialised per bucket (PostgreSQL: a transaction-level
  advisory lock; SQLite: `BEGIN IMMEDIATE`, which the store's engine already issues) reads the
  bucket's sends, deletes those older than the window, and inserts this one if it is allowed;
  otherwise it commits nothing and the caller sleeps, outside the transaction, until the
  computed time and tries again;
- every time is the database's clock (`clock_timestamp()`, not `now()`, which is the start of
  the transaction, before the lock wait): replicas whose clocks disagree still count one window;
- `penalize` stores the end of a 429 lockout in `rate_penalty`, which every replica reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from adapter.bloxs.ratelimit import (
    BUCKETS,
    BURST,
    InProcessBudget,
    RateBudget,
    budget_rules,
    next_send_time,
)
from adapter.errors import StoreUnavailable
from adapter.settings import RateBudgets
from adapter.store.tables import rate_penalty, rate_sends

SHARED_MODES = ("auto", "always", "never")
_PENALTY_ROW = 1
# The lock key includes the schema so two adapters in one database (one per schema) do not wait
# on each other.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/bloxs-rate/' || :b))")
_NOW = text("SELECT CAST(extract(epoch FROM clock_timestamp()) AS float8)")


class SharedBudget:
    """The budget of all replicas on one store (`RateBudget` protocol)."""

    def __init__(
        self,
        engine: Engine,
        budgets: RateBudgets,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        burst: float = BURST,
    ) -> None:
        self._limits, self._span, self._spacing = budget_rules(budgets, burst)
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._sleep = sleep
        # One waiter per bucket per process polls the database; the others queue here in
        # arrival order instead of each holding a thread and a connection.
        self._locks = {bucket: asyncio.Lock() for bucket in BUCKETS}
        # For usage(): the sends seen at the last acquire (database clock) and the offset of
        # the database clock from this process's monotonic clock.
        self._seen: dict[str, list[float]] = {bucket: [] for bucket in BUCKETS}
        self._offset = 0.0

    async def acquire(self, bucket: str) -> None:
        if bucket not in self._limits:
            raise ValueError(f"unknown Bloxs rate bucket {bucket!r}, expected one of {BUCKETS}")
        async with self._locks[bucket]:
            while True:
                wait = await asyncio.to_thread(self._try_send, bucket)
                if wait <= 0:
                    return
                # re-check after sleeping: another replica may have sent, or Bloxs said 429
                await self._sleep(wait)

    async def penalize(self, until: float) -> None:
        await asyncio.to_thread(self._penalize, until - time.time())

    def usage(self) -> dict[str, int]:
        # Read at scrape time: no database round trip, the sends seen at the last acquire.
        now = time.monotonic() + self._offset
        return {
            bucket: sum(1 for t in sent if t > now - self._span)
            for bucket, sent in self._seen.items()
        }

    def _try_send(self, bucket: str) -> float:
        """Count this send if the bucket allows it now (0.0); else seconds to wait."""
        limit = self._limits[bucket]
        with self._transaction() as conn:
            if self._postgres:
                conn.execute(_LOCK, {"b": bucket})
            now = self._now(conn)
            conn.execute(
                delete(rate_sends).where(
                    rate_sends.c.bucket == bucket, rate_sends.c.sent_at <= now - self._span
                )
            )
            sent = list(
                conn.scalars(
                    select(rate_sends.c.sent_at)
                    .where(rate_sends.c.bucket == bucket)
                    .order_by(rate_sends.c.sent_at)
                )
            )
            penalty = conn.scalar(
                select(rate_penalty.c.until).where(rate_penalty.c.id == _PENALTY_ROW)
            )
            at = next_send_time(
                sent,
                now,
                limit=limit,
                span=self._span,
                spacing=self._spacing[bucket],
                penalty_until=penalty or 0.0,
            )
            if at <= now:
                conn.execute(insert(rate_sends).values(bucket=bucket, sent_at=now))
                sent.append(now)
        self._seen[bucket] = sent
        self._offset = now - time.monotonic()
        return 0.0 if at <= now else at - now

    def _penalize(self, seconds_from_now: float) -> None:
        with self._transaction() as conn:
            until = self._now(conn) + seconds_from_now
            dialect: Any = postgresql if self._postgres else sqlite
            stmt = dialect.insert(rate_penalty).values(id=_PENALTY_ROW, until=until)
            later = (func.greatest if self._postgres else func.max)(
                rate_penalty.c.until, stmt.excluded.until
            )
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"until": later}))

    def _now(self, conn: Connection) -> float:
        return float(conn.scalar(_NOW)) if self._postgres else time.time()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreUnavailable("The rate budget in the store cannot be reached.") from exc


def budget_for(engine: Engine, budgets: RateBudgets) -> RateBudget:
    """The shared budget on PostgreSQL (or when `shared: always`), else one per process."""
    mode = budgets.shared
    if mode == "always" or (mode == "auto" and engine.dialect.name == "postgresql"):
        return SharedBudget(engine, budgets)
    return InProcessBudget(budgets)

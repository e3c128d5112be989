"""The adapter's own budget for Bloxs's environment-wide rate limits.

Bloxs counts requests per 60-second window per environment, shared by every API user, and a
request over the limit locks the *whole environment* out for the rest of the window
(https://www.bloxs.io/apidocs/rate-limit-1). A 429 is therefore a bug in this module, not a
normal event.

The algorithm is a sliding log: a request in a bucket may be sent at time `t` when fewer than
`limit` requests of that bucket were sent in `(t - W, t]`, with `W = window + margin`. Bloxs
counts a request in the window its *arrival* falls into; a request arrives at most `margin`
after we send it, so the requests Bloxs counts in one of its windows `[k*60, (k+1)*60)` were all
sent in `[k*60 - margin, (k+1)*60)`, a span of length `W`: never more than `limit` of them,
whatever the alignment of Bloxs's windows.

Smoothing: two sends in one bucket are at least `window / limit / burst` apart (`BURST` = 4 by
default, so 80 per minute means 0.19 s apart). A burst of a full budget then drains in about a
quarter of the window instead of one spike that hits Bloxs at the same moment as another API
user's, while a lone request still goes out at once and a moderate burst is not stretched over
the whole minute (exact `window / limit` spacing would).

Everything here is "count of send-times in the last W seconds", so a budget kept in the shared
database replaces `InProcessBudget` through the same `RateBudget` protocol. Per `acquire`, in
one transaction:

    SELECT ... FROM bloxs_budget_lock WHERE bucket = :b FOR UPDATE      -- serialise the bucket
    SELECT count(*), max(sent_at) FROM bloxs_budget_sends
        WHERE bucket = :b AND sent_at > now() - :W                      -- count and last send
    SELECT penalty_until FROM bloxs_budget_penalty                      -- after a 429
    -- allowed (see `next_send_time`): INSERT INTO bloxs_budget_sends (bucket, sent_at)
    --   VALUES (:b, now()), COMMIT, return;  else COMMIT and sleep until the computed time.

with the `limit`-th newest send time instead of the count when the bucket is full (`ORDER BY
sent_at DESC OFFSET limit - 1 LIMIT 1`), `penalize` an `UPDATE ... SET penalty_until =
greatest(penalty_until, :until)`, old rows deleted now and then, and the database's clock as
the one clock of all replicas.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from adapter.settings import RateBudgets

BUCKETS = ("update", "filter", "get", "authorization")
BURST = 4.0


class RateBudget(Protocol):
    async def acquire(self, bucket: str) -> None:
        """Return when a request in `bucket` may be sent, counting it as sent."""

    async def penalize(self, until: float) -> None:
        """No request in any bucket before wall-clock `until` (Bloxs answered 429)."""

    def usage(self) -> dict[str, int]:
        """Requests counted in the current window, per bucket."""


def next_send_time(
    sent: Sequence[float],
    now: float,
    *,
    limit: int,
    span: float,
    spacing: float,
    penalty_until: float = 0.0,
) -> float:
    """The earliest time >= `now` a request may be sent, given the bucket's earlier send times
    (oldest first, only those after `now - span` matter)."""
    earliest = max(now, penalty_until)
    recent = [t for t in sent if t > now - span]
    if recent:
        earliest = max(earliest, recent[-1] + spacing)
    if len(recent) >= limit:
        # the window must first lose enough old sends to make room for one more
        earliest = max(earliest, recent[len(recent) - limit] + span)
    return earliest


def budget_rules(
    budgets: RateBudgets, burst: float
) -> tuple[dict[str, int], float, dict[str, float]]:
    """What every RateBudget enforces, checked: the limit per bucket, the span that is counted
    (window + margin), and the least time between two sends of one bucket."""
    limits = {bucket: int(getattr(budgets, bucket)) for bucket in BUCKETS}
    for bucket, limit in limits.items():
        if limit < 1:
            raise ValueError(f"the Bloxs rate budget for {bucket!r} must be at least 1")
    if budgets.window_seconds <= 0 or budgets.margin_seconds < 0 or burst < 1:
        raise ValueError("the Bloxs rate budget window must be positive, margin >= 0")
    span = budgets.window_seconds + budgets.margin_seconds
    spacing = {bucket: budgets.window_seconds / limit / burst for bucket, limit in limits.items()}
    return limits, span, spacing


class InProcessBudget:
    """The budget of one process (one replica, or the SQLite set-up)."""

    def __init__(
        self,
        budgets: RateBudgets,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        burst: float = BURST,
    ) -> None:
        self._limits, self._span, self._spacing = budget_rules(budgets, burst)
        # Send times are kept on the monotonic clock, so a wall-clock step cannot make the
        # window look empty (step forward) or hold requests back for the step (step back).
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {bucket: deque() for bucket in BUCKETS}
        # One waiter at a time per bucket: waiters are served in arrival order.
        self._locks = {bucket: asyncio.Lock() for bucket in BUCKETS}
        self._penalty_until = 0.0

    async def acquire(self, bucket: str) -> None:
        if bucket not in self._sent:
            raise ValueError(f"unknown Bloxs rate bucket {bucket!r}, expected one of {BUCKETS}")
        sent = self._sent[bucket]
        async with self._locks[bucket]:
            while True:
                now = self._clock()
                self._forget(sent, now)
                at = next_send_time(
                    sent,
                    now,
                    limit=self._limits[bucket],
                    span=self._span,
                    spacing=self._spacing[bucket],
                    penalty_until=self._penalty_until,
                )
                if at <= now:
                    sent.append(now)
                    return
                # re-check after sleeping: a penalty may have arrived meanwhile
                await self._sleep(at - now)

    async def penalize(self, until: float) -> None:
        at = self._clock() + (until - self._wall_clock())
        self._penalty_until = max(self._penalty_until, at)

    def usage(self) -> dict[str, int]:
        now = self._clock()
        for sent in self._sent.values():
            self._forget(sent, now)
        return {bucket: len(sent) for bucket, sent in self._sent.items()}

    def _forget(self, sent: deque[float], now: float) -> None:
        while sent and sent[0] <= now - self._span:
            sent.popleft()

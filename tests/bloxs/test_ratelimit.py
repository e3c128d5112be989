"""The rate budget's algorithm on a virtual clock: no real time passes in these tests."""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
from collections import Counter

import pytest

from adapter.bloxs.ratelimit import BUCKETS, InProcessBudget, RateBudget, next_send_time
from adapter.settings import RateBudgets


class VirtualClock:
    """Time moves only when someone sleeps. Concurrent sleepers may wake late, never early,
    which is all the budget may assume of a real sleep."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the budget never sleeps for nothing"
        self.now += seconds
        await asyncio.sleep(0)


def make_budget(
    clock: VirtualClock,
    *,
    update: int = 5,
    authorization: int = 2,
    window_seconds: float = 1.0,
    margin_seconds: float = 0.2,
) -> InProcessBudget:
    budgets = RateBudgets(
        update=update,
        filter=5,
        get=20,
        authorization=authorization,
        window_seconds=window_seconds,
        margin_seconds=margin_seconds,
    )
    return InProcessBudget(budgets, clock=clock, wall_clock=clock, sleep=clock.sleep)


async def test_budget_is_a_rate_budget() -> None:
    """InProcessBudget satisfies the RateBudget protocol other modules code against."""
    budget: RateBudget = make_budget(VirtualClock())
    await budget.acquire("get")
    assert budget.usage() == {"update": 0, "filter": 0, "get": 1, "authorization": 0}


async def test_never_more_than_limit_in_any_span() -> None:
    """Sequential acquires never put more than `limit` sends in any window+margin span."""
    clock = VirtualClock()
    budget = make_budget(clock)
    sent = []
    for _ in range(40):
        await budget.acquire("update")
        sent.append(clock.now)
    span = 1.2
    for i in range(len(sent) - 5):
        assert sent[i + 5] - sent[i] >= span - 1e-9
    # and the budget is used, not wasted: 40 sends take about 40/5 spans, not much longer
    assert sent[-1] - sent[0] < 8 * span


async def test_bursts_are_spaced() -> None:
    """A burst is spread out by window/limit/burst, not sent as one spike."""
    clock = VirtualClock()
    budget = make_budget(clock, update=80, window_seconds=60.0, margin_seconds=1.0)
    sent = []
    for _ in range(80):
        await budget.acquire("update")
        sent.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 60 / 80 / 4 - 1e-9
    # the whole budget drains in about a quarter of the window, not the full minute
    assert 14 < sent[-1] - sent[0] < 16


async def test_lone_request_waits_for_nothing() -> None:
    """After an idle period a request goes out immediately."""
    clock = VirtualClock()
    budget = make_budget(clock)
    await budget.acquire("update")
    clock.now += 10
    before = clock.now
    await budget.acquire("update")
    assert clock.now == before


async def test_bloxs_aligned_windows_never_exceeded() -> None:
    """Whatever the alignment of Bloxs's windows, arrivals up to `margin` after sending never
    exceed the limit in one of them."""
    rng = random.Random(7)
    clock = VirtualClock(start=0.37)
    budget = make_budget(clock)
    arrivals = []
    for _ in range(300):
        if rng.random() < 0.2:
            clock.now += rng.uniform(0, 1.5)  # idle now and then
        await budget.acquire("update")
        arrivals.append(clock.now + rng.uniform(0, 0.2))
    for offset in (0.0, 0.13, 0.5, 0.99):
        per_window = Counter(math.floor(a - offset) for a in arrivals)
        assert max(per_window.values()) <= 5


async def test_concurrent_acquires_share_the_window() -> None:
    """Many tasks acquiring at once still respect the limit, each counted once."""
    clock = VirtualClock()
    budget = make_budget(clock)
    sent: list[float] = []

    async def one() -> None:
        await budget.acquire("update")
        sent.append(clock.now)

    await asyncio.gather(*(one() for _ in range(23)))
    sent.sort()
    assert len(sent) == 23
    for i in range(len(sent) - 5):
        assert sent[i + 5] - sent[i] >= 1.2 - 1e-9


async def test_buckets_are_independent() -> None:
    """A full update bucket does not hold back GETs."""
    clock = VirtualClock()
    budget = make_budget(clock)
    for _ in range(5):
        await budget.acquire("update")
    before = clock.now
    await budget.acquire("get")
    assert clock.now == before
    assert budget.usage()["update"] == 5


async def test_penalty_holds_every_bucket() -> None:
    """After penalize(until), no bucket lets a request out before `until`."""
    clock = VirtualClock()
    budget = make_budget(clock)
    until = clock.now + 0.8
    await budget.penalize(until)
    await budget.penalize(clock.now + 0.1)  # an earlier penalty does not shorten it
    for bucket in BUCKETS:
        await budget.acquire(bucket)
        assert clock.now >= until


async def test_usage_forgets_old_sends() -> None:
    """usage() counts only the sends of the current window+margin."""
    clock = VirtualClock()
    budget = make_budget(clock)
    for _ in range(3):
        await budget.acquire("filter")
    assert budget.usage()["filter"] == 3
    clock.now += 1.3
    assert budget.usage()["filter"] == 0


async def test_unknown_bucket_is_refused() -> None:
    """A typo in a bucket name is an error, not an unlimited bucket."""
    budget = make_budget(VirtualClock())
    with pytest.raises(ValueError, match="unknown Bloxs rate bucket"):
        await budget.acquire("download")


def test_zero_budget_is_refused() -> None:
    """A budget of 0 would block forever; it is refused when built."""
    with pytest.raises(ValueError, match="at least 1"):
        make_budget(VirtualClock(), authorization=0)


def test_next_send_time_is_pure() -> None:
    """The rule a database-backed budget would evaluate: count, last send, penalty."""
    at = functools.partial(next_send_time, limit=2, span=1.0, spacing=0.1)
    assert at([], 5.0) == 5.0
    assert at([4.95], 5.0) == pytest.approx(5.05)
    assert at([4.5, 4.6], 5.0) == pytest.approx(5.5)
    assert at([3.0, 3.5], 5.0) == 5.0
    assert at([], 5.0, penalty_until=7.0) == 7.0

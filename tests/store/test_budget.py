"""The rate budget kept in the store: one budget for every replica on the database."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from adapter.bloxs.ratelimit import InProcessBudget
from adapter.settings import RateBudgets
from adapter.store import Store
from adapter.store.budget import SharedBudget, budget_for
from adapter.store.tables import rate_sends

BUDGETS = RateBudgets(
    update=5, filter=5, get=10, authorization=2, window_seconds=1.0, margin_seconds=0.0
)


def _store(url: str) -> Store:
    store = Store(url)
    store.migrate()
    return store


@pytest.fixture
def two_stores(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """Two engines (two replicas) on one PostgreSQL schema."""
    a, b = _store(postgres_url), _store(postgres_url)
    yield a, b
    a.close()
    b.close()


def _sent_at(engine: Engine, bucket: str) -> list[float]:
    with engine.connect() as conn:
        return sorted(
            conn.scalars(select(rate_sends.c.sent_at).where(rate_sends.c.bucket == bucket))
        )


def _most_in_one_span(times: list[float], span: float) -> int:
    """The most send times in any half-open span (t - span, t]."""
    return max(sum(1 for u in times if t - span < u <= t) for t in times)


async def test_sends_never_exceed_the_limit_in_any_span(store_url: str) -> None:
    """Twelve acquires at a limit of 5 per 1 s: no 1 s span of the recorded sends holds more
    than 5, the sends are spaced, and the last one waited for the third window."""
    store = _store(store_url)
    try:
        budget = SharedBudget(store.engine, BUDGETS)
        # rows are deleted once out of the window, so record what was seen as we go
        seen: list[float] = []
        started = time.monotonic()
        for _ in range(12):
            await budget.acquire("update")
            seen = sorted(set(seen) | set(_sent_at(store.engine, "update")))
        elapsed = time.monotonic() - started
        assert len(seen) == 12
        assert _most_in_one_span(seen, 1.0) == 5
        spacing = 1.0 / 5 / 4
        assert min(b - a for a, b in itertools.pairwise(seen)) >= spacing - 1e-6
        assert elapsed >= 2.0
        # older rows than the window were deleted on the way
        assert len(_sent_at(store.engine, "update")) <= 5
    finally:
        store.close()


async def test_two_instances_on_two_engines_share_the_limit(
    two_stores: tuple[Store, Store],
) -> None:
    """Twenty concurrent acquires split over two replicas at 5 per 1 s: at least three full
    windows pass, and no 1 s span of the sends (either replica's) holds more than 5."""
    a, b = two_stores
    budgets = [SharedBudget(a.engine, BUDGETS), SharedBudget(b.engine, BUDGETS)]
    seen: set[float] = set()
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.update(await asyncio.to_thread(_sent_at, a.engine, "update"))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    await asyncio.gather(*(budgets[n % 2].acquire("update") for n in range(20)))
    elapsed = time.monotonic() - started
    done.set()
    await watcher
    seen.update(_sent_at(a.engine, "update"))
    assert len(seen) == 20
    assert _most_in_one_span(sorted(seen), 1.0) == 5
    assert elapsed >= 3.0
    # both replicas see the shared count
    assert budgets[0].usage()["update"] + budgets[1].usage()["update"] >= 5


async def test_penalty_is_seen_by_the_other_replica(two_stores: tuple[Store, Store]) -> None:
    """After one replica is told 429 until now + 0.8 s, the other waits that long too, in
    every bucket."""
    a, b = two_stores
    first, second = SharedBudget(a.engine, BUDGETS), SharedBudget(b.engine, BUDGETS)
    await first.penalize(time.time() + 0.8)
    await first.penalize(time.time() + 0.1)  # an earlier end never shortens the lockout
    started = time.monotonic()
    await second.acquire("get")
    assert time.monotonic() - started >= 0.7


async def test_usage_counts_other_replicas_sends_without_a_query(
    two_stores: tuple[Store, Store],
) -> None:
    """usage() reflects the sends of both replicas as of the last acquire, and drops them once
    they are older than the window."""
    a, b = two_stores
    first, second = SharedBudget(a.engine, BUDGETS), SharedBudget(b.engine, BUDGETS)
    for _ in range(3):
        await first.acquire("update")
    await second.acquire("update")
    assert second.usage()["update"] == 4
    assert second.usage()["get"] == 0
    await asyncio.sleep(1.1)
    assert second.usage()["update"] == 0


def test_shared_mode_chooses_the_budget(sqlite_url: str, postgres_url: str) -> None:
    """auto: shared on PostgreSQL, in-process on SQLite; always and never override it."""
    lite, pg = Store(sqlite_url), Store(postgres_url)
    try:

        def kind(store: Store, mode: str) -> type:
            budgets = RateBudgets(shared=mode)
            return type(budget_for(store.engine, budgets))

        assert kind(pg, "auto") is SharedBudget
        assert kind(lite, "auto") is InProcessBudget
        assert kind(pg, "never") is InProcessBudget
        assert kind(lite, "always") is SharedBudget
    finally:
        lite.close()
        pg.close()

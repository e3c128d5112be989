"""Retention on a real store file: what is purged when, what is kept, and that the store's size
stays bounded under steady traffic."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.config import load_settings
from adapter.errors import ConfigError
from adapter.events import Event, Person
from adapter.retention import DAY, NONCE_KEEP_SECONDS, purge
from adapter.settings import RetentionSettings
from adapter.store import Store
from adapter.worker import run_worker
from tests.support.harness import base_config, fixture_bytes, running, write_config

RETENTION = RetentionSettings(done_days=14, keep_days=90)
DAYS, PER_DAY = 12, 100
T0 = 1_000_000.0
DESCRIPTION = "De cv-ketel in de berging lekt al twee dagen; graag iemand sturen. " * 30


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    s.migrate()
    yield s
    s.close()


def event(key: str, external_id: str = "FAC-1") -> Event:
    return Event(
        kind="create",
        source="jira",
        delivery_key=key,
        external_id=external_id,
        fields={"description": DESCRIPTION},
        reporter=Person(email="tenant@example.com", name="Tenant"),
        summary=f"{external_id}: leak",
    )


def finish(store: Store, now: float, status: str = "done") -> str:
    """Claim the next due delivery and end it with `status` (and one attempt with a request)."""
    d = store.claim("w", now, 30)
    assert d is not None
    store.finish(
        d.id,
        "w",
        status=status,
        now=now,
        started_at=now,
        attempt_number=1,
        outcome="created" if status == "done" else "failed",
        reference="ST1" if status == "done" else None,
        requests=[{"operation": "create", "body": {"description": DESCRIPTION}}],
    )
    return d.delivery_id


def test_payload_purged_after_done_days_row_after_keep_days(store: Store) -> None:
    """A done delivery loses event, summary and requests after done_days, its row after
    keep_days; a cancelled one likewise; parked, failed and pending ones stay whole."""
    store.accept(event("done", "FAC-1"), body_sha256="a", now=T0)
    done = finish(store, T0)
    store.accept(event("failed", "FAC-2"), body_sha256="a", now=T0)
    failed = finish(store, T0, "failed")
    parked = store.accept(event("parked", "FAC-3"), body_sha256="a", now=T0, parked_reason="x")
    cancelled = store.accept(event("cancelled", "FAC-4"), body_sha256="a", now=T0)
    assert store.cancel(cancelled.delivery_id, T0)
    pending = store.accept(event("pending", "FAC-5"), body_sha256="a", now=T0)
    store.set_link("jira", "FAC-1", "ST1", T0)

    assert purge(store, RETENTION, T0 + 13 * DAY) == (0, 0, 0)
    result = purge(store, RETENTION, T0 + 15 * DAY)
    assert (result.payloads, result.rows) == (2, 0)
    emptied = store.get(done)
    assert emptied is not None
    assert (emptied.event, emptied.summary, emptied.status) == (None, None, "done")
    assert emptied.bloxs_reference == "ST1"
    assert [a.requests for a in store.attempts_of(emptied.id)] == [None]
    assert [a.outcome for a in store.attempts_of(emptied.id)] == ["created"]
    assert not store.replay(cancelled.delivery_id, T0 + 15 * DAY)
    for kept in (failed, parked.delivery_id, pending.delivery_id):
        whole = store.get(kept)
        assert whole is not None
        assert whole.event is not None, kept
    failed_row = store.get(failed)
    assert failed_row is not None
    assert store.attempts_of(failed_row.id)[0].requests

    assert purge(store, RETENTION, T0 + 89 * DAY).rows == 0
    assert purge(store, RETENTION, T0 + 91 * DAY).rows == 2
    assert store.get(done) is None
    assert store.get(cancelled.delivery_id) is None
    assert {d.delivery_key for d in store.list()} == {"failed", "parked", "pending"}
    assert store.link("jira", "FAC-1") == "ST1"
    assert store.row_counts()["attempts"] == 1


def test_old_nonces_are_deleted(store: Store) -> None:
    """Nonces go after NONCE_KEEP_SECONDS; newer ones still refuse a replayed token."""
    store.accept(event("n1"), body_sha256="a", now=T0, nonce="old")
    store.accept(event("n2", "FAC-2"), body_sha256="a", now=T0 + NONCE_KEEP_SECONDS, nonce="new")
    assert purge(store, RETENTION, T0 + NONCE_KEEP_SECONDS + 1).nonces == 1
    assert store.row_counts()["nonces"] == 1


def test_purge_works_in_batches(store: Store) -> None:
    """More finished deliveries than one batch are all purged in one pass."""
    for n in range(7):
        store.accept(event(f"k{n}", f"FAC-{n}"), body_sha256="a", now=T0)
        finish(store, T0)
    assert purge(store, RETENTION, T0 + 100 * DAY, batch=3) == (7, 7, 0)
    assert store.row_counts()["deliveries"] == 0


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_store_size_stays_bounded_under_steady_traffic(tmp_path: Path) -> None:
    """12 simulated days of 100 deliveries a day (a create with a 2 KB description, done,
    one attempt with its request), retention at done_days 1 / keep_days 3: after the first
    few days the file stops growing and the row counts are flat. Ticket links, one short row
    per ticket, are the only thing that grows. `pytest -s` prints the numbers."""
    path = tmp_path / "bounded.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    settings = RetentionSettings(done_days=1, keep_days=3)
    sizes: list[int] = []
    rows: list[dict[str, int]] = []
    ticket = 0
    for day in range(DAYS):
        now = T0 + day * DAY
        for n in range(PER_DAY):
            ticket += 1
            external_id = f"FAC-{ticket}"
            store.accept(event(f"d{day}-{n}", external_id), body_sha256="a", now=now)
            finish(store, now)
            store.set_link("jira", external_id, f"ST{ticket}", now)
        purge(store, settings, now + DAY / 2)
        sizes.append(store_bytes(path))
        rows.append(store.row_counts())
    store.close()
    print(f"\nstore bytes per day: {sizes}")
    mid, last = DAYS // 2 - 1, DAYS - 1
    print(f"rows on day {mid + 1}: {rows[mid]}; day {last + 1}: {rows[last]}")
    links = rows[last]["ticket_links"] - rows[mid]["ticket_links"]
    grown = sizes[last] - sizes[mid]
    print(f"growth day {mid + 1} -> {last + 1}: {grown} bytes, {links} ticket links")
    assert rows[last]["deliveries"] == rows[mid]["deliveries"] <= 4 * PER_DAY
    assert rows[last]["attempts"] == rows[mid]["attempts"]
    # what the file gained since is at most the ticket links' share, not the deliveries'
    assert grown <= links * 100


def test_retention_runs_in_the_app(tmp_path: Path) -> None:
    """The app's lifespan runs retention: with keep_days 0 a done delivery's row is deleted
    soon after, and the metric counts it."""

    def config(c: dict[str, Any]) -> None:
        c["retention"] = {"done_days": 0, "keep_days": 0, "interval_seconds": 0.1}

    with running(tmp_path, configure=config) as h:
        response = h.post_jira(fixture_bytes("composed/jira_issue_created.json"), "r-1")
        delivery_id = response.json()["deliveryId"]
        h.wait_for(lambda: h.delivery(delivery_id) is None, what="the row to be deleted")
        assert h.adapter_store().link("jira", "FAC-217")
        # The counter is bumped when the purge's thread has returned, just after the delete.
        counted = 'bloxs_adapter_retention_purged_total{what="rows"} 1.0'
        h.wait_for(
            lambda: counted in h.http.get(f"{h.adapter.url}/metrics").text,
            what="the purge to be counted",
        )


async def test_retention_runs_in_the_worker(tmp_path: Path) -> None:
    """`bloxs-adapter worker` purges too (its store, its settings)."""
    config = base_config(f"sqlite:///{tmp_path / 'store.db'}", "http://127.0.0.1:9")
    config["retention"] = {"done_days": 1, "keep_days": 2, "interval_seconds": 0.05}
    settings = load_settings(write_config(tmp_path, config), os.environ)
    store = Store(settings.store_url)
    store.migrate()
    store.accept(event("old"), body_sha256="a", now=T0)
    old = finish(store, T0)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        for _ in range(100):
            if store.get(old) is None:
                break
            await asyncio.sleep(0.05)
        assert store.get(old) is None
    finally:
        stop.set()
        await worker
        store.close()


def test_keep_days_below_done_days_is_refused(tmp_path: Path) -> None:
    """A config that would delete rows before their payload is purged is refused by key."""
    config = base_config(f"sqlite:///{tmp_path / 'store.db'}", "http://127.0.0.1:9")
    config["retention"] = {"done_days": 30, "keep_days": 7}
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, config), os.environ)
    assert "retention.keep_days" in (caught.value.errors or {})

"""The store on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from adapter.errors import StoreUnavailable, Unauthenticated
from adapter.events import Event
from adapter.store import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


def event(key: str, external_id: str | None = "FAC-1", kind: str = "create") -> Event:
    return Event(kind=kind, source="jira", delivery_key=key, external_id=external_id)  # type: ignore[arg-type]


def test_accept_then_duplicate_stores_once(store: Store) -> None:
    """The same delivery key twice is one row; the second answer says duplicate."""
    first = store.accept(event("k1"), body_sha256="a", now=1.0)
    second = store.accept(event("k1"), body_sha256="a", now=2.0)
    assert not first.duplicate
    assert second.duplicate
    assert second.delivery_id == first.delivery_id
    assert len(store.list()) == 1


def test_concurrent_duplicates_store_once(store: Store) -> None:
    """Eight threads racing with one delivery key leave exactly one delivery."""
    results = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        results.append(store.accept(event("race"), body_sha256="a", now=1.0))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.delivery_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(store.list()) == 1


def test_event_round_trips(store: Store) -> None:
    """What is stored comes back as the same Event."""
    original = Event(
        kind="create",
        source="jira",
        delivery_key="k",
        external_id="FAC-9",
        fields={"description": "Lekkage – keuken", "priority": 3},
        object_keys=("LL12",),
        notes_after_create=("long text",),
    )
    store.accept(original, body_sha256="a", now=1.0)
    claimed = store.claim("w", 2.0, 30)
    assert claimed is not None
    assert claimed.event == original


def test_reused_nonce_is_refused(store: Store) -> None:
    """A nonce (Mailgun token) seen before refuses the second delivery; nothing is stored."""
    store.accept(event("k1"), body_sha256="a", now=1.0, nonce="tok")
    with pytest.raises(Unauthenticated):
        store.accept(event("k2", "FAC-2"), body_sha256="b", now=2.0, nonce="tok")
    assert [d.delivery_key for d in store.list()] == ["k1"]


def test_claim_is_one_at_a_time_per_ticket_in_order(store: Store) -> None:
    """A ticket's second delivery waits until its first is finished; other tickets do not."""
    store.accept(event("k1", "FAC-1"), body_sha256="a", now=1.0)
    store.accept(event("k2", "FAC-1", "update"), body_sha256="b", now=1.0)
    store.accept(event("k3", "FAC-2"), body_sha256="c", now=1.0)
    first = store.claim("w1", 5.0, 30)
    other = store.claim("w2", 5.0, 30)
    assert first is not None
    assert first.delivery_key == "k1"
    assert other is not None
    assert other.delivery_key == "k3"
    assert store.claim("w3", 5.0, 30) is None
    assert store.finish(
        first.id, "w1", status="done", now=6.0, started_at=5.0, attempt_number=1, outcome="created"
    )
    second = store.claim("w3", 7.0, 30)
    assert second is not None
    assert second.delivery_key == "k2"


def test_retry_waits_and_keeps_order(store: Store) -> None:
    """A delivery sent back to pending is due only at next_attempt_at, and still blocks its
    ticket's later deliveries."""
    store.accept(event("k1"), body_sha256="a", now=1.0)
    store.accept(event("k2", kind="note"), body_sha256="b", now=1.0)
    d = store.claim("w", 2.0, 30)
    assert d is not None
    store.finish(
        d.id,
        "w",
        status="pending",
        now=3.0,
        started_at=2.0,
        attempt_number=1,
        outcome="retry",
        error="Bloxs 503",
        next_attempt_at=100.0,
    )
    assert store.claim("w", 50.0, 30) is None
    again = store.claim("w", 100.0, 30)
    assert again is not None
    assert again.delivery_key == "k1"
    assert again.attempts == 2
    assert store.attempts_of(again.id)[0].error == "Bloxs 503"


def test_expired_lease_is_claimed_again_and_old_owner_cannot_finish(store: Store) -> None:
    """A worker that died loses its lease; the next one takes over, the dead one's late
    finish is refused."""
    store.accept(event("k1"), body_sha256="a", now=1.0)
    first = store.claim("dead", 2.0, 10)
    assert first is not None
    assert store.claim("live", 5.0, 10) is None
    second = store.claim("live", 13.0, 10)
    assert second is not None
    assert second.id == first.id
    assert second.attempts == 2
    assert not store.finish(
        first.id, "dead", status="done", now=14.0, started_at=2.0, attempt_number=1, outcome="x"
    )


def test_parallel_claims_never_share_a_delivery(store: Store) -> None:
    """Four threads claiming from 40 deliveries of 40 tickets get each one exactly once."""
    for n in range(40):
        store.accept(event(f"k{n}", f"FAC-{n}"), body_sha256="a", now=1.0)
    claimed: list[int] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        while (d := store.claim(owner, 2.0, 60)) is not None:
            with lock:
                claimed.append(d.id)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 40


def test_links_replay_cancel_and_counts(store: Store) -> None:
    """Ticket links, replay of parked and failed deliveries, cancel, and the status counts."""
    parked = store.accept(event("k1"), body_sha256="a", now=1.0, parked_reason="no object")
    assert parked.status == "parked"
    assert store.counts()["parked"] == {"jira": 1}
    assert store.replay_parked(2.0, source="other") == 0
    assert store.replay_parked(2.0, source="jira") == 1
    assert store.counts()["pending"] == {"jira": 1}
    assert store.cancel(parked.delivery_id, 3.0)
    assert not store.cancel(parked.delivery_id, 3.0)
    assert store.replay(parked.delivery_id, 4.0)
    assert store.link("jira", "FAC-1") is None
    store.set_link("jira", "FAC-1", "ST000001", 5.0)
    store.set_link("jira", "FAC-1", "ST000002", 6.0)
    assert store.link("jira", "FAC-1") == "ST000001"
    assert store.find_thread("jira", ["nope", "FAC-1"]) == "FAC-1"


def test_list_filters_and_pages(store: Store) -> None:
    """Listing is newest first, filtered, and pages with after_id."""
    for n in range(5):
        store.accept(event(f"k{n}", f"FAC-{n % 2}"), body_sha256="a", now=float(n))
    page1 = store.list(limit=2)
    page2 = store.list(limit=2, after_id=page1[-1].id)
    assert [d.delivery_key for d in page1 + page2] == ["k4", "k3", "k2", "k1"]
    assert {d.delivery_key for d in store.list(external_id="FAC-1")} == {"k1", "k3"}
    assert [d.delivery_key for d in store.list(since=3.0)] == ["k4", "k3"]


def test_retention_empties_then_deletes_done_deliveries_only(store: Store) -> None:
    """Retention empties the payload of an old done delivery, later deletes its row, keeps
    its ticket link, and never touches a parked one."""
    store.accept(event("old", "FAC-1"), body_sha256="a", now=1.0)
    store.accept(event("parked", "FAC-2"), body_sha256="a", now=1.0, parked_reason="x")
    d = store.claim("w", 2.0, 30)
    assert d is not None
    store.set_link("jira", "FAC-1", "ST000001", 2.5)
    store.finish(
        d.id,
        "w",
        status="done",
        now=3.0,
        started_at=2.0,
        attempt_number=1,
        outcome="ok",
        requests=[{"operation": "create"}],
    )
    assert store.purge_payloads(done_before=10.0) == 1
    emptied = store.get(d.delivery_id)
    assert emptied is not None
    assert emptied.event is None
    assert store.attempts_of(d.id)[0].requests is None
    assert store.purge_payloads(done_before=10.0) == 0
    assert store.delete_finished(before=10.0) == 1
    assert [x.delivery_key for x in store.list()] == ["parked"]
    assert store.link("jira", "FAC-1") == "ST000001"
    assert store.row_counts()["attempts"] == 0


def test_unreachable_database_raises_store_unavailable() -> None:
    """A database that cannot be reached is StoreUnavailable (answered 503), not a crash."""
    store = Store("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1")
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_same_nonce_same_body_is_a_retry_other_body_is_refused(store: Store) -> None:
    """A Mailgun retry repeats the post byte for byte: duplicate. The same token with another
    body (a replay with altered fields) is refused, and nothing is stored."""
    first = store.accept(event("tok-1"), body_sha256="a", now=1.0, nonce="tok-1")
    again = store.accept(event("tok-1"), body_sha256="a", now=2.0, nonce="tok-1")
    assert again.duplicate
    assert again.delivery_id == first.delivery_id
    with pytest.raises(Unauthenticated, match="already used"):
        store.accept(event("tok-1"), body_sha256="forged", now=3.0, nonce="tok-1")
    assert len(store.list()) == 1

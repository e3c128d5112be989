"""Retention: the store stays bounded under steady traffic.

Every `retention.interval_seconds`, in `serve` and in `worker` (several replicas doing it at
once is harmless: each step is idempotent):

1. done and cancelled deliveries finished more than `done_days` ago lose their payload (the
   event, the summary, the Bloxs requests of their attempts); the row stays as an audit trail
   (id, source, external id, status, attempts, outcome, Bloxs reference, times);
2. those finished more than `keep_days` ago are deleted, with their attempts;
3. nonces (Mailgun's one-time tokens) older than `NONCE_KEEP_SECONDS` are deleted.

Parked and failed deliveries are never touched: they wait, whole, for a person to replay or
cancel them. Ticket links stay too (one short row per ticket): an update of an old ticket needs
its Bloxs reference. Work is done in batches so a large backlog never holds the store's write
lock for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import NamedTuple

import structlog

from adapter.errors import StoreUnavailable
from adapter.settings import RetentionSettings
from adapter.store import Store

log = structlog.get_logger(__name__)

DAY = 86400.0
# Longer than any source's replay window (they are minutes): a nonce older than this is
# refused by its timestamp check anyway.
NONCE_KEEP_SECONDS = 2 * DAY
BATCH = 500


class Purged(NamedTuple):
    payloads: int
    rows: int
    nonces: int


def purge(store: Store, settings: RetentionSettings, now: float, batch: int = BATCH) -> Purged:
    """One retention pass (synchronous: run it in a thread from async code)."""
    payloads = rows = 0
    while True:
        n = store.purge_payloads(done_before=now - settings.done_days * DAY, limit=batch)
        payloads += n
        if n < batch:
            break
    while True:
        n = store.delete_finished(before=now - settings.keep_days * DAY, limit=batch)
        rows += n
        if n < batch:
            break
    nonces = store.purge_nonces(before=now - NONCE_KEEP_SECONDS)
    return Purged(payloads, rows, nonces)


async def run_retention(
    store: Store,
    settings: RetentionSettings,
    stop: asyncio.Event,
    *,
    on_purged: Callable[[Purged], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Purge now, then every `interval_seconds`, until `stop` is set."""
    while not stop.is_set():
        try:
            purged = await asyncio.to_thread(purge, store, settings, clock())
        except StoreUnavailable:
            log.warning("retention.failed", reason="the store cannot be reached")
        except Exception:
            log.exception("retention.failed")
        else:
            if purged.payloads or purged.rows or purged.nonces:
                log.info(
                    "retention.purged",
                    payloads=purged.payloads,
                    rows=purged.rows,
                    nonces=purged.nonces,
                )
            if on_purged is not None:
                on_purged(purged)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.interval_seconds)

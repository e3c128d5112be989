"""`bloxs-adapter worker`: the dispatcher alone, for replicas that take no webhooks."""

from __future__ import annotations

import asyncio
import signal

import structlog

from adapter.bloxs.client import BloxsClient
from adapter.catalog import CatalogCache
from adapter.dispatcher import Dispatcher
from adapter.lookups import LookupTables
from adapter.retention import run_retention
from adapter.settings import Settings
from adapter.store import Store
from adapter.store.budget import budget_for

log = structlog.get_logger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = Store(settings.store_url)
    await asyncio.to_thread(store.migrate)
    budget = budget_for(store.engine, settings.bloxs.budgets)
    async with BloxsClient(settings.bloxs, budget=budget) as client:
        dispatcher = Dispatcher(
            store=store,
            client=client,
            lookups=LookupTables(settings.lookups, check_interval=0.0),
            sources=settings.sources,
            settings=settings.dispatcher,
            catalog=CatalogCache(client, settings.bloxs.catalog_refresh_seconds),
        )
        log.info("worker.started", concurrency=settings.dispatcher.concurrency)
        retention = asyncio.create_task(run_retention(store, settings.retention, stop))
        await dispatcher.run(stop)
        await retention
    store.close()

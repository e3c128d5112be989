"""Bloxs's state and category lists, fetched through the client and cached.

Bloxs admins can edit the state list in the app, so it is refreshed every
`catalog_refresh_seconds`; a failed refresh keeps the previous lists when there are any.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from adapter.resolve import Catalog

log = structlog.get_logger(__name__)


class CatalogSource(Protocol):
    async def list_states(self) -> list[dict[str, object]]: ...
    async def list_cost_categories(self) -> list[dict[str, object]]: ...
    async def list_problem_categories(self) -> list[dict[str, object]] | None: ...


def _names(items: list[dict[str, object]]) -> list[str]:
    return [str(item["name"]) for item in items if item.get("name")]


class CatalogCache:
    def __init__(
        self,
        client: CatalogSource,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._catalog: Catalog | None = None
        self._fetched = 0.0

    def invalidate(self) -> None:
        self._fetched = float("-inf")

    async def get(self) -> Catalog:
        if self._catalog is not None and self._clock() - self._fetched < self._refresh:
            return self._catalog
        async with self._lock:
            if self._catalog is not None and self._clock() - self._fetched < self._refresh:
                return self._catalog
            try:
                states = await self._client.list_states()
                costs = await self._client.list_cost_categories()
                problems = await self._client.list_problem_categories()
            except Exception:
                if self._catalog is None:
                    raise
                log.warning("catalog.refresh_failed", keeping="previous lists")
                self._fetched = self._clock()
                return self._catalog
            self._catalog = Catalog(
                states=[
                    (str(s["name"]), s.get("systemState"))  # type: ignore[misc]
                    for s in states
                    if s.get("name")
                ],
                cost_categories=_names(costs),
                problem_categories=_names(problems) if problems is not None else None,
                fetched_at=time.time(),
            )
            self._fetched = self._clock()
            return self._catalog

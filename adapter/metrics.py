"""Prometheus metrics, served at GET /metrics.

Each app has its own `CollectorRegistry` (not prometheus_client's global one), so several apps
in one process (tests, `demo`) keep their own numbers. Counters and histograms are updated by
hooks as things happen; what describes the store and the rate budget is read when Prometheus
scrapes, so every replica reports the same shared truth and nothing drifts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from adapter.errors import StoreUnavailable
from adapter.settings import RateBudgets

if TYPE_CHECKING:
    from adapter.bloxs.client import BloxsClient
    from adapter.bloxs.ratelimit import RateBudget
    from adapter.dispatcher import Outcome
    from adapter.store import Delivery, Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "bloxs_adapter"
# The statuses an operator watches; done and cancelled only grow until retention removes them.
WATCHED_STATUSES = ("pending", "parked", "failed")
UNKNOWN_SOURCE = "unknown"

_DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            f"{PREFIX}_webhooks_received",
            "Webhooks received, by source and outcome (accepted, parked, duplicate, ignored,"
            " rejected, error).",
            ["source", "outcome"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            f"{PREFIX}_delivery_seconds",
            "Time from receipt of a webhook to Bloxs confirming what it asked for.",
            ["source", "kind"],
            buckets=_DELIVERY_BUCKETS,
            registry=r,
        )
        self.delivery_attempts = Counter(
            f"{PREFIX}_delivery_attempts",
            "Dispatcher attempts, by source and the delivery's status after the attempt.",
            ["source", "status"],
            registry=r,
        )
        self.delivery_retries = Counter(
            f"{PREFIX}_delivery_retries",
            "Attempts that left a delivery pending for a later retry.",
            ["source"],
            registry=r,
        )
        self.bloxs_calls = Counter(
            f"{PREFIX}_bloxs_calls",
            "HTTP calls to Bloxs, by operation and HTTP status ('error' when no answer came).",
            ["operation", "status"],
            registry=r,
        )
        self.bloxs_call_seconds = Histogram(
            f"{PREFIX}_bloxs_call_duration_seconds",
            "Duration of one HTTP call to Bloxs.",
            ["operation"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.bloxs_retries = Counter(
            f"{PREFIX}_bloxs_call_retries",
            "HTTP calls to Bloxs that repeated an earlier attempt of the same request.",
            ["operation"],
            registry=r,
        )
        self.retention_purged = Counter(
            f"{PREFIX}_retention_purged",
            "Retention: payloads emptied and rows deleted.",
            ["what"],
            registry=r,
        )
        self.state = _StateCollector()
        r.register(self.state)

    def attach(
        self,
        *,
        store: Store,
        sources: Iterable[str],
        budget: RateBudget | None = None,
        budgets: RateBudgets | None = None,
        client: BloxsClient | None = None,
    ) -> None:
        """What the scrape-time gauges read from (set in the app's lifespan)."""
        self.state.store = store
        self.state.sources = tuple(sources)
        self.state.budget = budget
        self.state.budgets = budgets
        self.state.client = client

    def detach(self) -> None:
        self.state.store = None
        self.state.budget = None
        self.state.client = None

    # --- hooks ------------------------------------------------------------------------------

    def webhook(self, source: str, outcome: str) -> None:
        self.webhooks.labels(source, outcome).inc()

    def bloxs_call(self, operation: str, status: int | None, attempt: int, seconds: float) -> None:
        self.bloxs_calls.labels(operation, str(status) if status is not None else "error").inc()
        self.bloxs_call_seconds.labels(operation).observe(seconds)
        if attempt > 1:
            self.bloxs_retries.labels(operation).inc()

    def delivery_outcome(self, delivery: Delivery, outcome: Outcome) -> None:
        self.delivery_attempts.labels(delivery.source, outcome.status).inc()
        if outcome.status == "done":
            waited = max(0.0, time.time() - delivery.received_at)
            self.delivery_seconds.labels(delivery.source, delivery.kind).observe(waited)
        elif outcome.status == "pending":
            self.delivery_retries.labels(delivery.source).inc()

    def purged(self, payloads: int, rows: int) -> None:
        if payloads:
            self.retention_purged.labels("payloads").inc(payloads)
        if rows:
            self.retention_purged.labels("rows").inc(rows)

    def render(self) -> bytes:
        """The text exposition format; reads the store, so call it off the event loop."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Gauges computed at scrape time from the store, the rate budget and the Bloxs client."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.store: Store | None = None
        self.sources: tuple[str, ...] = ()
        self.budget: RateBudget | None = None
        self.budgets: RateBudgets | None = None
        self.client: BloxsClient | None = None
        self.clock = clock

    def describe(self) -> list[Metric]:
        # Not collected on registration: the store is attached later, in the lifespan.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._store_metrics()
        yield from self._budget_metrics()
        if self.client is not None:
            renewals = CounterMetricFamily(
                f"{PREFIX}_bloxs_token_renewals",
                "Bloxs tokens obtained by exchanging the API key and secret.",
            )
            renewals.add_metric([], self.client.token_renewals)
            yield renewals

    def _store_metrics(self) -> Iterator[Metric]:
        if self.store is None:
            return
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 when the delivery store answered.")
        try:
            counts = self.store.counts()
            oldest = self.store.oldest_pending()
        except StoreUnavailable:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        deliveries = GaugeMetricFamily(
            f"{PREFIX}_deliveries",
            "Deliveries in the store, by status and source.",
            labels=["status", "source"],
        )
        for status in WATCHED_STATUSES:
            by_source = counts.get(status, {})
            for source in sorted(set(self.sources) | set(by_source)):
                deliveries.add_metric([status, source], by_source.get(source, 0))
        yield deliveries
        age = GaugeMetricFamily(
            f"{PREFIX}_oldest_pending_age_seconds",
            "Age of the oldest pending delivery (0 when none is pending).",
        )
        age.add_metric([], max(0.0, self.clock() - oldest) if oldest is not None else 0.0)
        yield age

    def _budget_metrics(self) -> Iterator[Metric]:
        if self.budget is None:
            return
        used = GaugeMetricFamily(
            f"{PREFIX}_rate_budget_used",
            "Bloxs calls counted in the current rate window, per bucket.",
            labels=["bucket"],
        )
        for bucket, count in sorted(self.budget.usage().items()):
            used.add_metric([bucket], count)
        yield used
        if self.budgets is not None:
            limit = GaugeMetricFamily(
                f"{PREFIX}_rate_budget_limit",
                "Bloxs calls the adapter allows itself per rate window, per bucket.",
                labels=["bucket"],
            )
            for bucket in sorted(self.budget.usage()):
                limit.add_metric([bucket], _limit(self.budgets, bucket))
            yield limit


def _limit(budgets: RateBudgets, bucket: str) -> float:
    value: Any = getattr(budgets, bucket, 0)
    return float(value)

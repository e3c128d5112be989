"""The validated settings objects. config.py builds them from the YAML file; tests build them
directly. Built once and passed in: nothing reads os.environ after start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo


class Secret(str):
    """A string whose repr and str-formatting in logs never show the value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True)
class SourceSettings:
    """The options every source has, whatever its type (see config.py for their meaning)."""

    name: str
    type: str
    timezone: ZoneInfo
    insecure: bool = False
    max_body_bytes: int = 1024 * 1024
    default_reporter: str | None = None
    default_state: str | None = None
    priority_map: Mapping[str, int] = field(default_factory=dict)
    default_priority: int = 2
    status_map: Mapping[str, str] = field(default_factory=dict)
    problem_category_map: Mapping[str, str] = field(default_factory=dict)
    cost_category_map: Mapping[str, str] = field(default_factory=dict)
    missing_ticket: str = "park"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RateBudgets:
    """Requests per window the adapter allows itself, per Bloxs bucket. Bloxs's own limits
    are 100 update / 100 filter / 500 other GET / 10 authorization per minute for the whole
    environment, shared with every other API user: stay well below them."""

    update: int = 80
    filter: int = 80
    get: int = 400
    authorization: int = 8
    window_seconds: float = 60.0
    # Requests are counted when sent, Bloxs counts them when they arrive: the margin keeps a
    # request sent at the very end of our window out of Bloxs's next-but-one count.
    margin_seconds: float = 1.0
    # auto: kept in the database when the store is PostgreSQL (all replicas share it), else in
    # the process; always: in the database (SQLite too: a serve and a worker on one file);
    # never: in the process.
    shared: str = "auto"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 20.0


@dataclass(frozen=True)
class BloxsSettings:
    base_url: str = "http://127.0.0.1:8089"
    token: Secret | None = None
    api_key: Secret | None = None
    api_secret: Secret | None = None
    timeout_seconds: float = 15.0
    connect_timeout_seconds: float = 5.0
    max_connections: int = 10
    renew_before_seconds: float = 300.0
    budgets: RateBudgets = field(default_factory=RateBudgets)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Not documented by Bloxs (see README): a 404 here switches the check off, with a warning.
    problem_categories_path: str = "/api/v1/maintenance/servicetickets/problemcategories"
    catalog_refresh_seconds: float = 600.0


@dataclass(frozen=True)
class LookupSettings:
    reporters: Path | None = None
    objects: Path | None = None


@dataclass(frozen=True)
class DispatcherSettings:
    enabled: bool = True
    concurrency: int = 4
    poll_interval_seconds: float = 0.5
    lease_seconds: float = 120.0
    max_attempts: int = 12
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 900.0


@dataclass(frozen=True)
class AdminSettings:
    token: Secret | None = None


@dataclass(frozen=True)
class RetentionSettings:
    """Payloads (the event, the Bloxs requests) of done and cancelled deliveries are emptied
    after `done_days`; their rows, the audit trail, are deleted after `keep_days`. Parked and
    failed deliveries are kept whole until a person resolves them."""

    done_days: float = 14.0
    keep_days: float = 90.0
    interval_seconds: float = 3600.0


# Log keys (lower case, without "_", "-" and ".") that hold a person's data when they contain
# one of these; the redaction at info level replaces their values.
PERSONAL_FIELDS: tuple[str, ...] = (
    "email",
    "phone",
    "mobile",
    "name",
    "sender",
    "recipient",
    "replyto",
)


@dataclass(frozen=True)
class LoggingSettings:
    redact_personal: bool = True
    personal_fields: tuple[str, ...] = PERSONAL_FIELDS


@dataclass(frozen=True)
class Settings:
    store_url: str = "sqlite:///data/bloxs-adapter.db"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Amsterdam"))
    bloxs: BloxsSettings = field(default_factory=BloxsSettings)
    lookups: LookupSettings = field(default_factory=LookupSettings)
    dispatcher: DispatcherSettings = field(default_factory=DispatcherSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    sources: dict[str, SourceSettings] = field(default_factory=dict)
    log_format: str = "auto"

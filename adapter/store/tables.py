"""The store's tables, in SQLAlchemy Core so the same SQL runs on SQLite and PostgreSQL.

Times are epoch seconds (float): portable, sortable, and free of the time-zone handling that
SQLite does not have.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
Id = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData()

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False, unique=True),
    Column("source", String(100), nullable=False),
    Column("delivery_key", String(200), nullable=False),
    Column("external_id", String(100)),
    Column("kind", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    # The Event as JSON; emptied by the retention purge once the delivery is done.
    Column("event", Text),
    Column("summary", Text),
    Column("body_sha256", String(64), nullable=False),
    Column("request_id", String(100)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("steps_done", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", Float),
    Column("last_error", Text),
    Column("bloxs_reference", String(100)),
    Column("received_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    UniqueConstraint("source", "delivery_key", name="uq_deliveries_source_key"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_ticket", deliveries.c.source, deliveries.c.external_id, deliveries.c.status)
Index("ix_deliveries_finished", deliveries.c.status, deliveries.c.finished_at)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_pk", Id, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("error", Text),
    # The Bloxs request(s) sent, as JSON, for the admin view; purged with the payload.
    Column("requests", Text),
)
Index("ix_attempts_delivery", attempts.c.delivery_pk)

ticket_links = Table(
    "ticket_links",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("external_id", String(100), primary_key=True),
    Column("reference", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
)

# Values a sender promises never to repeat (Mailgun's token): kept for the replay window.
nonces = Table(
    "nonces",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("nonce", String(200), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("seen_at", Float, nullable=False),
)

# The Bloxs rate budget shared by all replicas (adapter/store/budget.py): one row per request
# sent in the last window, per bucket, and the end of a lockout after a 429. Times are the
# database's clock, so replicas with skewed clocks count the same window.
rate_sends = Table(
    "rate_sends",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("bucket", String(20), nullable=False),
    Column("sent_at", Float, nullable=False),
)
Index("ix_rate_sends_bucket", rate_sends.c.bucket, rate_sends.c.sent_at)

rate_penalty = Table(
    "rate_penalty",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("until", Float, nullable=False),
)

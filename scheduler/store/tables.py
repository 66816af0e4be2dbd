"""The scheduler's tables (SQLAlchemy Core). Alembic migrations in migrations/ create them;
a test checks that the migrations and these definitions agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)
LIVE_WHERE = "status IN ('waiting', 'called', 'serving')"

sites = Table(
    "sites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("display_seq", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("queue", String(64), nullable=False),
    Column("number", String(4), nullable=False),
    Column("service", String(64), nullable=False),
    Column("priority", Boolean, nullable=False),
    Column("lang", String(2), nullable=False),
    Column("token", String(43), nullable=False, unique=True),
    Column("arrival_at", TS, nullable=False),
    Column("issued_at", TS, nullable=False),
    Column("status", String(10), nullable=False),
    Column("desk", String(32)),
    Column("called_at", TS),
    Column("first_called_at", TS),
    Column("started_at", TS),
    Column("finished_at", TS),
    Column("recalls", Integer, nullable=False),
    Column("transfers", Integer, nullable=False),
    Column("origin_queue", String(64)),
    Column("device", String(63)),
    Index("ix_tickets_site_status", "site", "status"),
    Index("ix_tickets_site_day", "site", "day"),
    # Rule 1: never two live tickets with one number at a site.
    Index(
        "uq_tickets_live_number",
        "site",
        "number",
        unique=True,
        sqlite_where=text(LIVE_WHERE),
        postgresql_where=text(LIVE_WHERE),
    ),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(32), nullable=False),
    Column("at", TS, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ticket_id", String(36)),
    Column("desk", String(32)),
    Column("queue", String(64)),
    Column("detail", JSON),
    Index("ix_ticket_events_site_at", "site", "at"),
    Index("ix_ticket_events_ticket_id", "ticket_id"),
)

desks = Table(
    "desks",
    metadata,
    Column("site", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("status", String(10), nullable=False),
    Column("ticket_id", String(36)),
    Column("updated_at", TS, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("site", String(32), primary_key=True),
    Column("queue", String(64), primary_key=True),
    Column("day", Date, nullable=False),
    Column("last", Integer, nullable=False),
)

# Idempotency: every answered command, by device and id, with its reply.
commands = Table(
    "commands",
    metadata,
    Column("device", String(63), primary_key=True),
    Column("id", String(100), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("verb", String(16), nullable=False),
    Column("at", TS, nullable=False),
    Column("reply", Text, nullable=False),
    Index("ix_commands_at", "at"),
)

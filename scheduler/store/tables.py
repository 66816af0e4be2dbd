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
    # An appointment's ticket (made by check-in): its reservation, slot start and advisor.
    Column("reservation_id", String(36)),
    Column("appt_start", TS),
    Column("advisor", String(64)),
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

# ---------------------------------------------------------------------------- booking (0002)

# Reservations (scheduler/booking). Personal data (name, phone, email, answers) is set to
# NULL by the retention job (`purged_at`); the identity code is only ever kept as an HMAC.
reservations = Table(
    "reservations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(7), nullable=False, unique=True),
    Column("site", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("advisor", String(64), nullable=False),
    Column("start", TS, nullable=False),
    Column("end", TS, nullable=False),
    Column("status", String(12), nullable=False),
    Column("resources", JSON, nullable=False),
    Column("lang", String(2), nullable=False),
    Column("name", Text),
    Column("phone", String(32)),
    Column("email", String(254)),
    Column("hetu_hash", String(64)),
    Column("card_hash", String(64)),
    Column("answers", JSON),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(16), nullable=False),
    Column("hold_until", TS),
    Column("ticket_id", String(36)),
    Column("checked_in_at", TS),
    Column("cancelled_at", TS),
    Column("reminded_at", TS),
    Column("purged_at", TS),
    Column("version", Integer, nullable=False),
    Index("ix_reservations_site_start", "site", "start"),
    Index("ix_reservations_hetu_hash", "hetu_hash"),
    Index("ix_reservations_card_hash", "card_hash"),
    Index("ix_reservations_advisor_start", "advisor", "start"),
)

# One row per 5-minute cell that an active reservation occupies of each advisor and extra
# resource: the primary key makes two overlapping bookings of one advisor or resource
# impossible, on SQLite and PostgreSQL alike, however many booking requests race.
slot_claims = Table(
    "slot_claims",
    metadata,
    Column("site", String(32), primary_key=True),
    Column("resource", String(80), primary_key=True),
    Column("cell", TS, primary_key=True),
    Column("reservation_id", String(36), nullable=False),
    Index("ix_slot_claims_reservation_id", "reservation_id"),
)

# The durable outbox of confirmations and reminders: a row is written in the same
# transaction as the booking and removed (sent_at set) once the message went out.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reservation_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("due_at", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    # The channels still to send ("email,sms"); NULL: all that apply.
    Column("channels", String(32)),
    Index("ix_notifications_sent_at_due_at", "sent_at", "due_at"),
)

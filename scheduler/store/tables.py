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

# ---------------------------------------------------------------------------- staff (0003)

# Sign-in accounts of the staff pages (scheduler/web/auth.py): the password only as an
# argon2 hash; `sites` the site ids an advisor or switchboard user works at (empty: all).
users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("sites", JSON, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("lang", String(2), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Signed-in sessions: the cookie holds a random token, the table only its SHA-256, so a
# copy of the database does not sign anybody in.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("seen_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_sessions_user_name", "user_name"),
)

# The live configuration of each site (the `[[sites]]` table of the config file, as
# JSON): seeded from the file, then changed by the admin pages. `seed_hash` is the hash
# of the file's version it was last seeded from: when the file's site changes, the file
# wins again (scheduler/siteconfig.py).
site_configs = Table(
    "site_configs",
    metadata,
    Column("site", String(32), primary_key=True),
    Column("doc", JSON, nullable=False),
    Column("seed_hash", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

"""Walk-in flow: sites, tickets and their events, desks, number counters, commands.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
LIVE_WHERE = "status IN ('waiting', 'called', 'serving')"


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("display_seq", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("number", sa.String(4), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("priority", sa.Boolean, nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("arrival_at", TS, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("desk", sa.String(32)),
        sa.Column("called_at", TS),
        sa.Column("first_called_at", TS),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("recalls", sa.Integer, nullable=False),
        sa.Column("transfers", sa.Integer, nullable=False),
        sa.Column("origin_queue", sa.String(64)),
        sa.Column("device", sa.String(63)),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("token", name="uq_tickets_token"),
    )
    op.create_index("ix_tickets_site_status", "tickets", ["site", "status"])
    op.create_index("ix_tickets_site_day", "tickets", ["site", "day"])
    op.create_index(
        "uq_tickets_live_number",
        "tickets",
        ["site", "number"],
        unique=True,
        sqlite_where=sa.text(LIVE_WHERE),
        postgresql_where=sa.text(LIVE_WHERE),
    )
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ticket_id", sa.String(36)),
        sa.Column("desk", sa.String(32)),
        sa.Column("queue", sa.String(64)),
        sa.Column("detail", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
    )
    op.create_index("ix_ticket_events_site_at", "ticket_events", ["site", "at"])
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])
    op.create_table(
        "desks",
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("ticket_id", sa.String(36)),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("site", "id", name="pk_desks"),
    )
    op.create_table(
        "counters",
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("last", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("site", "queue", name="pk_counters"),
    )
    op.create_table(
        "commands",
        sa.Column("device", sa.String(63), nullable=False),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("verb", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("device", "id", name="pk_commands"),
    )
    op.create_index("ix_commands_at", "commands", ["at"])


def downgrade() -> None:
    for table in ("commands", "counters", "desks", "ticket_events", "tickets", "sites"):
        op.drop_table(table)

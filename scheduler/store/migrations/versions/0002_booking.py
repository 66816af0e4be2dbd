"""Booking: reservations, slot claims, the notification outbox; appointment tickets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as b:
        b.add_column(sa.Column("reservation_id", sa.String(36)))
        b.add_column(sa.Column("appt_start", TS))
        b.add_column(sa.Column("advisor", sa.String(64)))
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(7), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("advisor", sa.String(64), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("phone", sa.String(32)),
        sa.Column("email", sa.String(254)),
        sa.Column("hetu_hash", sa.String(64)),
        sa.Column("card_hash", sa.String(64)),
        sa.Column("answers", sa.JSON),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(16), nullable=False),
        sa.Column("hold_until", TS),
        sa.Column("ticket_id", sa.String(36)),
        sa.Column("checked_in_at", TS),
        sa.Column("cancelled_at", TS),
        sa.Column("reminded_at", TS),
        sa.Column("purged_at", TS),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
        sa.UniqueConstraint("code", name="uq_reservations_code"),
    )
    op.create_index("ix_reservations_site_start", "reservations", ["site", "start"])
    op.create_index("ix_reservations_hetu_hash", "reservations", ["hetu_hash"])
    op.create_index("ix_reservations_card_hash", "reservations", ["card_hash"])
    op.create_index("ix_reservations_advisor_start", "reservations", ["advisor", "start"])
    op.create_table(
        "slot_claims",
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(80), nullable=False),
        sa.Column("cell", TS, nullable=False),
        sa.Column("reservation_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("site", "resource", "cell", name="pk_slot_claims"),
    )
    op.create_index("ix_slot_claims_reservation_id", "slot_claims", ["reservation_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("reservation_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("channels", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_sent_at_due_at", "notifications", ["sent_at", "due_at"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("slot_claims")
    op.drop_table("reservations")
    with op.batch_alter_table("tickets") as b:
        b.drop_column("advisor")
        b.drop_column("appt_start")
        b.drop_column("reservation_id")

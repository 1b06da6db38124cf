"""events: councils' events, their series, the councils they reach and members' RSVPs

An event belongs to a council and may reach others (or all); it keeps its zone, its
capacity and the places taken (changed only under its row lock, never past the
capacity), and the last arrival number given out, which orders its waitlist. One RSVP
row per member and event, whichever platform they answer from.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "event_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("every", sa.String(length=8), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_series")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.Column("all_councils", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("venue", sa.String(length=300), nullable=False),
        _when("start_at"),
        _when("end_at"),
        _when("planned_start_at"),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("guests_allowed", sa.Integer(), nullable=False),
        sa.Column("approval", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            _enum("event_status", "draft", "scheduled", "cancelled", "done"),
            nullable=False,
        ),
        sa.Column("organiser_id", sa.Integer(), nullable=True),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("full_told", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["council_id"],
            ["councils.id"],
            name=op.f("fk_events_council_id_councils"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organiser_id"],
            ["members.id"],
            name=op.f("fk_events_organiser_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["event_series.id"],
            name=op.f("fk_events_series_id_event_series"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_organiser_id"), ["organiser_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_series_id"), ["series_id"], unique=False)
        batch_op.create_index("ix_events_status_start", ["status", "start_at"], unique=False)
    op.create_table(
        "event_councils",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["council_id"],
            ["councils.id"],
            name=op.f("fk_event_councils_council_id_councils"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_councils_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "council_id", name=op.f("pk_event_councils")),
    )
    op.create_table(
        "rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            _enum("rsvp_status", "going", "waiting", "requested", "declined", "left"),
            nullable=False,
        ),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        _when("checked_in_at", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_rsvps_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_rsvps_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rsvps")),
        sa.UniqueConstraint("event_id", "member_id", name=op.f("uq_rsvps_event_id_member_id")),
    )
    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rsvps_event_status_turn", ["event_id", "status", "turn"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rsvps_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_table("rsvps")
    op.drop_table("event_councils")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_status_start")
        batch_op.drop_index(batch_op.f("ix_events_series_id"))
        batch_op.drop_index(batch_op.f("ix_events_organiser_id"))
    op.drop_table("events")
    op.drop_table("event_series")

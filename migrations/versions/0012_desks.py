"""hot desks: facilities, desks, bookings, the slots that forbid double booking

`booking_slots` holds one row per desk, local date and half-day (am, pm) held by a live
booking (a `day` booking holds both): its primary key is what makes a double booking
impossible, whatever the concurrency, on SQLite and PostgreSQL alike. `desk_profiles`
keeps whether a member shows in /whosin.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            _enum("facility_kind", "science_park", "university", "coworking"),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        _when("retired_at", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["council_id"],
            ["councils.id"],
            name=op.f("fk_facilities_council_id_councils"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
        sa.UniqueConstraint("slug", name=op.f("uq_facilities_slug")),
    )
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facilities_council_id"), ["council_id"], unique=False)

    op.create_table(
        "desk_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_desk_profiles_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_profiles")),
        sa.UniqueConstraint("member_id", name=op.f("uq_desk_profiles_member_id")),
    )
    op.create_table(
        "desks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        _when("retired_at", nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_desks_facility_id_facilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desks")),
        sa.UniqueConstraint("facility_id", "code", name=op.f("uq_desks_facility_id_code")),
    )
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desks_facility_id"), ["facility_id"], unique=False)

    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("desk_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("booked_by_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", _enum("desk_slot", "am", "pm", "day"), nullable=False),
        sa.Column(
            "status",
            _enum("booking_status", "booked", "checked_in", "cancelled", "released"),
            nullable=False,
        ),
        sa.Column("series_id", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("checked_in_at", nullable=True),
        _when("ended_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["booked_by_id"],
            ["members.id"],
            name=op.f("fk_bookings_booked_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["desk_id"], ["desks.id"], name=op.f("fk_bookings_desk_id_desks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_bookings_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bookings_booked_by_id"), ["booked_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bookings_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_desk_id"), ["desk_id"], unique=False)
        batch_op.create_index("ix_bookings_member_day", ["member_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_series_id"), ["series_id"], unique=False)

    op.create_table(
        "booking_slots",
        sa.Column("desk_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("half", sa.String(length=2), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_slots_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["desk_id"],
            ["desks.id"],
            name=op.f("fk_booking_slots_desk_id_desks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("desk_id", "day", "half", name=op.f("pk_booking_slots")),
    )
    with op.batch_alter_table("booking_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_slots_booking_id"), ["booking_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("booking_slots")
    op.drop_table("bookings")
    op.drop_table("desks")
    op.drop_table("desk_profiles")
    op.drop_table("facilities")

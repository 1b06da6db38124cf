"""the outbox edits and deletes what it posted

An outbox row gets an operation (send, edit, delete) and, for an edit or a deletion, the
post it changes; a row whose payload was rewritten while it was being sent is marked so; and
a delivery can be cancelled (a post deleted before it went out). Existing rows are sends.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = ("pending", "sending", "sent", "failed", "dead")
_NEW_STATUSES = (*_OLD_STATUSES, "cancelled")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="delivery_status", native_enum=False, create_constraint=True, length=16
    )


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        # Given both types, Alembic drops the old CHECK of the status and creates the new one
        # (on SQLite by copying the table).
        batch_op.alter_column(
            "status",
            existing_type=_status(_OLD_STATUSES),
            type_=_status(_NEW_STATUSES),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column(
                "operation",
                sa.Enum(
                    "send",
                    "edit",
                    "delete",
                    name="delivery_operation",
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
                server_default="send",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("post_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("rewritten", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_foreign_key(
            op.f("fk_deliveries_post_id_deliveries"),
            "deliveries",
            ["post_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_deliveries_post_id"), ["post_id"], unique=False)


def downgrade() -> None:
    # Edits and deletions cannot be told apart from sends without their columns: they go.
    op.execute("DELETE FROM deliveries WHERE operation <> 'send'")
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'cancelled'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_post_id"))
        batch_op.drop_constraint(op.f("fk_deliveries_post_id_deliveries"), type_="foreignkey")
        batch_op.drop_column("rewritten")
        batch_op.drop_column("post_id")
        batch_op.drop_constraint(op.f("ck_deliveries_delivery_operation"), type_="check")
        batch_op.drop_column("operation")
        batch_op.alter_column(
            "status",
            existing_type=_status(_NEW_STATUSES),
            type_=_status(_OLD_STATUSES),
            existing_nullable=False,
        )

"""Telegram button callback keys are kept in the database

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_keys",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_callback_keys")),
    )
    with op.batch_alter_table("callback_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callback_keys_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_keys_expires_at"))
    op.drop_table("callback_keys")

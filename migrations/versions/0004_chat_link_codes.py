"""chat link codes: linking a chat that posts as itself (a Telegram channel)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 05:16:17.937097
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_link_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.Column(
            "platform",
            sa.Enum(
                "console",
                "telegram",
                "slack",
                name="platform",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column(
            "chat_kind",
            sa.Enum(
                "private",
                "group",
                "channel",
                name="chat_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["council_id"],
            ["councils.id"],
            name=op.f("fk_chat_link_codes_council_id_councils"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_link_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_chat_link_codes_code")),
    )
    with op.batch_alter_table("chat_link_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_link_codes_council_id"), ["council_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_link_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_link_codes_council_id"))

    op.drop_table("chat_link_codes")

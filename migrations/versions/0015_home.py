"""a member's home: private calendar feed tokens and the weekly digests sent

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 19:30:00.000000

`calendar_tokens` holds the SHA-256 of each member's private calendar URL secret (one per
member); `digests_sent` records each weekly digest, unique per member and ISO week, so that
a digest goes out once per week and member, also across restarts and workers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_calendar_tokens_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_tokens")),
        sa.UniqueConstraint("member_id", name=op.f("uq_calendar_tokens_member_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_tokens_token_hash")),
    )
    op.create_table(
        "digests_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_digests_sent_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests_sent")),
        sa.UniqueConstraint("member_id", "week", name=op.f("uq_digests_sent_member_id_week")),
    )
    with op.batch_alter_table("digests_sent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digests_sent_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("digests_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digests_sent_member_id"))
    op.drop_table("digests_sent")
    op.drop_table("calendar_tokens")

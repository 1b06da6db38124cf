"""magazine: EMPOWER issues and the state of the magazine's feed

Each issue has a unique number, link and feed GUID (the insert that wins posts it); the
feed's row keeps its ETag / Last-Modified, whether its first read (an import, posting
nothing) was done, and its failures and the admins' alert, shared by every process.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("draft", "scheduled", "published", "archived", "missed")
SOURCES = ("command", "feed", "seed")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "magazine_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=1000), nullable=False),
        sa.Column("cover_url", sa.String(length=1000), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", _enum(STATUSES, "issue_status"), nullable=False),
        sa.Column("source", _enum(SOURCES, "issue_source"), nullable=False),
        sa.Column("feed_guid", sa.String(length=1000), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["members.id"],
            name=op.f("fk_magazine_issues_published_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_magazine_issues")),
        sa.UniqueConstraint("number", name=op.f("uq_magazine_issues_number")),
        sa.UniqueConstraint("link", name=op.f("uq_magazine_issues_link")),
        sa.UniqueConstraint("feed_guid", name=op.f("uq_magazine_issues_feed_guid")),
    )
    op.create_index(
        op.f("ix_magazine_issues_published_by_id"),
        "magazine_issues",
        ["published_by_id"],
        unique=False,
    )
    op.create_table(
        "magazine_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_magazine_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_magazine_feeds_url")),
    )


def downgrade() -> None:
    op.drop_table("magazine_feeds")
    op.drop_index(op.f("ix_magazine_issues_published_by_id"), table_name="magazine_issues")
    op.drop_table("magazine_issues")

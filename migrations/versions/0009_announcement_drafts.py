"""announcements wait as drafts until a preview is sent

An announcement starts as a draft that only its preview shows; Send queues or schedules
it. A sent one can be deleted from the chats it reached. Each announcement keeps the
time zone its times were read in and are shown in (none on older rows: they use their
first council's). Each identity remembers the
language its app reported when last seen, so that a direct message speaks it when the
member chose none.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 16:30:00.000000
"""

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("scheduled", "sent", "cancelled", "missed")
NEW = ("draft", *OLD, "deleted")
# The column stays VARCHAR(16); only the CHECK of its non-native enum lists the new values.
CONSTRAINT = "ck_announcements_announcement_status"


def _check(values: Sequence[str]) -> str:
    return "status IN ({})".format(", ".join(f"'{value}'" for value in values))


@contextlib.contextmanager
def _keeping_council_links() -> Iterator[None]:
    """Keep announcement_councils across a copy of the announcements table.

    SQLite changes a CHECK constraint by copying the table and dropping the old one; with
    foreign keys on, that DROP deletes every row first, and ON DELETE CASCADE takes each
    announcement's councils with it. So the links are read before and written back after.
    """
    links = sa.table("announcement_councils", sa.column("announcement_id"), sa.column("council_id"))
    bind = op.get_bind()
    rows = [dict(row._mapping) for row in bind.execute(sa.select(links))]
    yield
    bind.execute(sa.delete(links))
    if rows:
        bind.execute(sa.insert(links), rows)


def upgrade() -> None:
    with _keeping_council_links(), op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(op.f(CONSTRAINT), sa.text(_check(NEW)))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language_code", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("language_code")
    # Drafts were never sent: they go; deleted announcements had been sent.
    op.execute("DELETE FROM announcements WHERE status = 'draft'")
    op.execute("UPDATE announcements SET status = 'sent' WHERE status = 'deleted'")
    with _keeping_council_links(), op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("deleted_at")
        batch_op.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(op.f(CONSTRAINT), sa.text(_check(OLD)))

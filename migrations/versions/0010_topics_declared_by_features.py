"""subscription topics are declared by features

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 16:30:00.000000

The topic of a subscription was an enum of four names, checked by the database; each
feature now declares its own topic (core.features.Topic), so the column becomes a plain
string and `/subscribe` checks the name against the declared topics. A new feature's topic
then needs no schema change. Going down keeps only the four old topics' subscriptions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_TOPICS = ("announcements", "events", "polls", "magazine")


def _old_type() -> sa.Enum:
    return sa.Enum(*OLD_TOPICS, name="topic", native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    # Batch mode rebuilds the table on SQLite; on PostgreSQL Alembic drops the CHECK
    # constraint of the existing (enum) type before altering the column.
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.alter_column(
            "topic", existing_type=_old_type(), type_=sa.String(32), existing_nullable=False
        )


def downgrade() -> None:
    # Topics the old enum cannot hold have no place to go down to.
    subscriptions = sa.table("subscriptions", sa.column("topic", sa.String))
    op.execute(subscriptions.delete().where(subscriptions.c.topic.not_in(OLD_TOPICS)))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.alter_column(
            "topic", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
        batch_op.create_check_constraint(
            op.f("ck_subscriptions_topic"), sa.column("topic").in_(OLD_TOPICS)
        )

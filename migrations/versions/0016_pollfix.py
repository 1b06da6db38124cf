"""pollfix: anonymous counts per option only, turnout per platform; native polls mapped

An anonymous poll's counts were kept per option AND platform (`poll_tallies`): with few
voters on a platform, a reader of the table could tell what they chose. They become one
count per option (`poll_counts`) and, apart, how many voted from each platform
(`poll_turnout`, whatever they chose). Existing counts are added up per option; the
turnout is the sum of a platform's counts for single-choice and rating polls (one mark per
voter), and the largest of its option counts for multiple-choice ones (a lower bound: who
ticked several options cannot be told apart any more, which is the point).

`poll_posts` gets every native Telegram poll already posted (from its outbox row's
"poll:<message id>:<poll id>"), since the outbox now records them when they are sent and
answers are looked up there alone.

Downgrade puts each option's count back under the console platform (turnouts are lost).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _platform() -> sa.Enum:
    return sa.Enum(
        "console",
        "telegram",
        "slack",
        name="platform",
        native_enum=False,
        create_constraint=True,
        length=16,
    )


def upgrade() -> None:
    op.create_table(
        "poll_counts",
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["poll_options.id"],
            name=op.f("fk_poll_counts_option_id_poll_options"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("option_id", name=op.f("pk_poll_counts")),
    )
    op.create_table(
        "poll_turnout",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("platform", _platform(), nullable=False),
        sa.Column("voters", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_turnout_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("poll_id", "platform", name=op.f("pk_poll_turnout")),
    )
    op.execute(
        "INSERT INTO poll_counts (option_id, count) "
        "SELECT option_id, SUM(count) FROM poll_tallies GROUP BY option_id"
    )
    op.execute(
        "INSERT INTO poll_turnout (poll_id, platform, voters) "
        "SELECT o.poll_id, t.platform, "
        "CASE WHEN p.kind = 'multiple' THEN MAX(t.count) ELSE SUM(t.count) END "
        "FROM poll_tallies t JOIN poll_options o ON o.id = t.option_id "
        "JOIN polls p ON p.id = o.poll_id GROUP BY o.poll_id, t.platform, p.kind"
    )
    op.drop_table("poll_tallies")

    connection = op.get_bind()
    posts = connection.execute(
        sa.text(
            "SELECT id, source_id, platform_message_id FROM deliveries WHERE source = 'poll' "
            "AND operation = 'send' AND platform = 'telegram' AND source_id IS NOT NULL "
            "AND platform_message_id LIKE 'poll:%'"
        )
    ).all()
    known = {row[0] for row in connection.execute(sa.text("SELECT native_id FROM poll_posts"))}
    for delivery_id, poll_id, message_id in posts:
        native_id = message_id.rsplit(":", 1)[1]
        if native_id and native_id not in known:
            known.add(native_id)
            connection.execute(
                sa.text(
                    "INSERT INTO poll_posts (native_id, poll_id, delivery_id) "
                    "VALUES (:native_id, :poll_id, :delivery_id)"
                ),
                {"native_id": native_id, "poll_id": poll_id, "delivery_id": delivery_id},
            )


def downgrade() -> None:
    op.create_table(
        "poll_tallies",
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("platform", _platform(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["poll_options.id"],
            name=op.f("fk_poll_tallies_option_id_poll_options"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("option_id", "platform", name=op.f("pk_poll_tallies")),
    )
    op.execute(
        "INSERT INTO poll_tallies (option_id, platform, count) "
        "SELECT option_id, 'console', count FROM poll_counts"
    )
    op.drop_table("poll_turnout")
    op.drop_table("poll_counts")

"""polls: questions to councils, their options, votes, anonymous counts and ballots

A poll's votes are one row per member and slot (0 for a single choice or a rating, the
option for a multiple choice), so that a second vote from anywhere is one vote. An
anonymous poll keeps counts per option and platform (`poll_tallies`) and, apart from them,
a keyed hash of member and poll (`poll_ballots`): who voted can be told only with the
key, and what they chose not at all. `poll_posts` maps a native Telegram poll's id to the
poll; `poll_keys` holds the per-install key when COUNCILBOT_POLL_SECRET is not set.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "poll_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_keys")),
    )
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "single",
                "multiple",
                "rating",
                name="poll_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("results_after_close", sa.Boolean(), nullable=False),
        sa.Column("allow_other", sa.Boolean(), nullable=False),
        sa.Column("remind", sa.Boolean(), nullable=False),
        sa.Column("all_councils", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "open",
                "closed",
                "cancelled",
                name="poll_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("every", sa.String(length=8), nullable=True),
        sa.Column("previous_round_id", sa.Integer(), nullable=True),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("report_to_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_of_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["members.id"],
            name=op.f("fk_polls_author_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_of_id"],
            ["polls.id"],
            name=op.f("fk_polls_follow_up_of_id_polls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["previous_round_id"],
            ["polls.id"],
            name=op.f("fk_polls_previous_round_id_polls"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["report_to_id"],
            ["members.id"],
            name=op.f("fk_polls_report_to_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
    )
    with op.batch_alter_table("polls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_polls_author_id"), ["author_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_polls_follow_up_of_id"), ["follow_up_of_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_polls_previous_round_id"), ["previous_round_id"], unique=False
        )

    op.create_table(
        "poll_ballots",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("voter", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_ballots_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("poll_id", "voter", name=op.f("pk_poll_ballots")),
    )
    op.create_table(
        "poll_councils",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["council_id"],
            ["councils.id"],
            name=op.f("fk_poll_councils_council_id_councils"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_councils_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("poll_id", "council_id", name=op.f("pk_poll_councils")),
    )
    op.create_table(
        "poll_options",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("other", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_options_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_options")),
        sa.UniqueConstraint("poll_id", "position", name=op.f("uq_poll_options_poll_id_position")),
    )
    op.create_table(
        "poll_reminders",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_poll_reminders_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_reminders_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("poll_id", "member_id", name=op.f("pk_poll_reminders")),
    )
    op.create_table(
        "poll_posts",
        sa.Column("native_id", sa.String(length=64), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_poll_posts_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"], ["polls.id"], name=op.f("fk_poll_posts_poll_id_polls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("native_id", name=op.f("pk_poll_posts")),
    )
    with op.batch_alter_table("poll_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_posts_poll_id"), ["poll_id"], unique=False)

    op.create_table(
        "poll_tallies",
        sa.Column("option_id", sa.Integer(), nullable=False),
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
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["poll_options.id"],
            name=op.f("fk_poll_tallies_option_id_poll_options"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("option_id", "platform", name=op.f("pk_poll_tallies")),
    )
    op.create_table(
        "poll_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
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
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_poll_votes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["poll_options.id"],
            name=op.f("fk_poll_votes_option_id_poll_options"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"], ["polls.id"], name=op.f("fk_poll_votes_poll_id_polls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_votes")),
        sa.UniqueConstraint(
            "poll_id", "member_id", "slot", name=op.f("uq_poll_votes_poll_id_member_id_slot")
        ),
    )
    with op.batch_alter_table("poll_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_votes_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_votes_option_id"), ["option_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("poll_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_votes_option_id"))
        batch_op.drop_index(batch_op.f("ix_poll_votes_member_id"))

    op.drop_table("poll_votes")
    op.drop_table("poll_tallies")
    with op.batch_alter_table("poll_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_posts_poll_id"))

    op.drop_table("poll_posts")
    op.drop_table("poll_reminders")
    op.drop_table("poll_options")
    op.drop_table("poll_councils")
    op.drop_table("poll_ballots")
    with op.batch_alter_table("polls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polls_previous_round_id"))
        batch_op.drop_index(batch_op.f("ix_polls_follow_up_of_id"))
        batch_op.drop_index(batch_op.f("ix_polls_author_id"))

    op.drop_table("polls")
    op.drop_table("poll_keys")

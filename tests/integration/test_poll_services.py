"""Polls' services: the event feedback hook, the chart, and migration 0013 on a database
holding the previous revision's rows."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from matplotlib.figure import Figure
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.app import App
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import Council, Identity, Member, PollKind, PollStatus
from councilbot.db.session import upgrade
from councilbot.services import polls
from tests.conftest import START, Bot, Clock
from tests.integration.test_migrations import upgrade_or_downgrade


async def test_feedback_poll_goes_by_dm_and_the_organiser_gets_the_results(
    bot: Bot, app: App, clock: Clock, catalogs: Catalogs, console_out: io.StringIO
) -> None:
    for name in ("organiser", "bob", "carol"):
        await bot(f"{name}@dm: /start cork")
    async with app.sessionmaker() as session, session.begin():
        ids = {m.display_name: m.id for m in await session.scalars(select(Member))}
        cork = await session.scalar(select(Council).where(Council.slug == "cork"))
        assert cork is not None
        rating = await polls.create_feedback_poll(
            session,
            title="Lean & Green workshop",
            council_id=cork.id,
            organiser_member_id=ids["organiser"],
            member_ids=[ids["bob"], ids["carol"]],
            zone=cork.timezone,
            closes_at=START + timedelta(days=3),
            now=START,
            catalogs=catalogs,
        )
        assert (rating.kind, rating.anonymous, rating.status) == (
            PollKind.RATING,
            True,
            PollStatus.OPEN,
        )
        rating_id = rating.id
    await app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    assert "[to dm:bob] 📊 Poll #1" in out and "How was Lean & Green workshop?" in out
    assert "[to dm:carol] 📊 Poll #2" in out and "What should we do next?" in out
    assert "[to dm:organiser]" not in out
    await bot("bob@dm: /vote 1 5")
    await bot("carol@dm: /vote 1 4")
    # Nobody sees the counts before closing: a few attendees' marks would show, and no
    # vote edits the attendees' messages.
    assert (await bot("/results 1")).startswith("Nobody sees the results of poll #1")
    await app.dispatcher.run_until_idle()
    assert "[edited in dm:" not in console_out.getvalue()
    assert "Results are shown when the poll closes." in console_out.getvalue()
    # A voter's own answer becomes an option for the others: the posts get its button,
    # still without counts.
    await bot("bob@dm: /vote 2 other A hackathon")
    await app.dispatcher.run_until_idle()
    edited = console_out.getvalue().split("[edited in dm:", 1)[1]
    assert "A hackathon" in edited and "Results are shown when the poll closes." in edited
    assert "(0%)" not in edited and "(100%)" not in edited
    clock.advance(days=3, minutes=1)
    assert await app.scheduler.fire_due() == 2
    await app.dispatcher.run_until_idle()
    final = console_out.getvalue().split("[to dm:organiser]")
    assert len(final) == 3  # both polls' results, to the organiser alone
    assert "Final results of poll #1" in final[1] and "4.5 out of 5" in final[1]
    results = await bot("organiser@dm: /results 1")
    assert "Average: 4.5 out of 5" in results
    assert "What should we do next?" in results and "A hackathon" in results
    assert rating_id == 1


def test_the_chart_draws_one_bar_per_option_as_long_as_its_count() -> None:
    figure = Figure()
    polls.draw_results(figure, ["Lean", "Agile", "Six Sigma"], [12, 5, 0], "Which?")
    [axes] = figure.axes
    widths = [round(patch.get_width()) for patch in axes.patches]
    assert widths == [12, 5, 0]
    # Each bar is labelled with its option, the first option on top.
    assert [t.get_text() for t in axes.get_yticklabels()] == ["Lean", "Agile", "Six Sigma"]
    assert [round(p.get_y() + p.get_height() / 2) for p in axes.patches] == [2, 1, 0]


async def test_the_results_chart_is_a_png_whose_bars_match_the_counts(bot: Bot) -> None:
    await bot('/poll "Which?" "Lean" "Agile" --yes')
    for name, choice in (("bob", 1), ("carol", 1), ("dan", 2)):
        await bot(f"{name}@cork-chat: /vote 1 {choice}")
    reply = await bot.reply("/results 1")
    assert reply.file is not None
    image = Image.open(io.BytesIO(reply.file.data))
    assert image.format == "PNG"
    # The bars are the chart's only blue: the first is twice as long as the second.
    pixels = image.convert("RGB")
    width, height = pixels.size
    runs = []
    for y in range(height):
        blue = sum(1 for x in range(width) if pixels.getpixel((x, y)) == (0x3B, 0x7D, 0xD8))
        if blue:
            runs.append(blue)
    lengths = sorted(set(runs))
    assert len(lengths) >= 2 and abs(lengths[-1] / lengths[0] - 2) < 0.1


async def test_0013_upgrades_a_database_holding_the_previous_revision(
    engine: AsyncEngine,
) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0012")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO councils (id, slug, name, city, timezone, language, focus, "
                "created_at, updated_at) VALUES (1, 'cork', 'Cork', 'Cork', 'Europe/Dublin', "
                "'en', '', :at, :at)"
            ),
            {"at": START},
        )
    await upgrade(engine)
    async with engine.begin() as connection:
        assert (await connection.execute(text("SELECT slug FROM councils"))).scalar() == "cork"
        assert (await connection.execute(text("SELECT count(*) FROM polls"))).scalar() == 0
    await upgrade_or_downgrade(engine, "0012")
    await upgrade(engine)


def test_rounds_keep_their_wall_clock_time_across_months_and_daylight_saving() -> None:
    dublin = ZoneInfo("Europe/Dublin")
    # 31 January 17:00 -> 28 February 17:00 (the month's last day), still 17:00 in Dublin.
    closes = datetime(2027, 1, 31, 17, 0, tzinfo=dublin).astimezone(UTC)
    february = polls.next_period(closes, "month", dublin)
    assert february.astimezone(dublin) == datetime(2027, 2, 28, 17, 0, tzinfo=dublin)
    # Across the change to summer time (28 March 2027): 17:00 stays 17:00.
    march = datetime(2027, 3, 25, 17, 0, tzinfo=dublin).astimezone(UTC)
    week = polls.next_period(march, "week", dublin)
    assert week.astimezone(dublin).hour == 17 and week - march == timedelta(days=7, hours=-1)


async def test_a_feedback_poll_speaks_each_member_s_language_as_every_direct_message(
    bot: Bot, app: App, catalogs: Catalogs, console_out: io.StringIO
) -> None:
    """The DM is in the language its later edits use (broadcast.direct's), not another."""
    await bot("bob@dm: /start cork")
    async with app.sessionmaker() as session, session.begin():
        bob = await session.scalar(select(Member).where(Member.display_name == "bob"))
        cork = await session.scalar(select(Council).where(Council.slug == "cork"))
        assert bob is not None and cork is not None
        # Bob's Telegram app speaks Spanish; he was last seen on the console, which says none.
        session.add(
            Identity(
                member_id=bob.id,
                platform=Platform.TELEGRAM,
                workspace="",
                user_id="888",
                language_code="es",
                created_at=START - timedelta(days=1),
                last_seen_at=START - timedelta(days=1),
            )
        )
        await session.flush()
        await polls.create_feedback_poll(
            session,
            title="The fair",
            council_id=cork.id,
            organiser_member_id=None,
            member_ids=[bob.id],
            zone=cork.timezone,
            closes_at=START + timedelta(days=3),
            now=START,
            catalogs=catalogs,
        )
    await app.dispatcher.run_until_idle()
    assert "[to dm:bob] 📊 Encuesta #1" in console_out.getvalue()


async def test_0016_adds_up_anonymous_counts_and_maps_native_polls_already_posted(
    engine: AsyncEngine,
) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0015")
    rows = {
        "councils (id, slug, name, city, timezone, language, focus, created_at, updated_at)": (
            "(1, 'cork', 'Cork', 'Cork', 'Europe/Dublin', 'en', '', :at, :at)"
        ),
        "polls (id, question, kind, anonymous, results_after_close, allow_other, remind, "
        "all_councils, status, timezone, direct, created_at)": (
            "(1, 'Rate', 'rating', true, false, false, true, false, 'open', 'UTC', false, :at), "
            "(2, 'Topics', 'multiple', true, false, false, true, false, 'open', 'UTC', false, :at), "
            "(3, 'Lunch', 'single', false, false, false, true, false, 'open', 'UTC', false, :at)"
        ),
        "poll_options (id, poll_id, position, label, other)": (
            "(1, 1, 1, '1', false), (2, 1, 2, '2', false), "
            "(3, 2, 1, 'AI', false), (4, 2, 2, 'Energy', false), (5, 3, 1, 'Yes', false)"
        ),
        "poll_tallies (option_id, platform, count)": (
            "(1, 'console', 2), (1, 'telegram', 1), (2, 'slack', 1), (2, 'console', 0), "
            "(3, 'slack', 2), (4, 'slack', 1)"
        ),
        "deliveries (id, key, source, source_id, operation, platform, workspace, chat_id, "
        "chat_kind, payload, status, attempts, next_attempt_at, created_at, "
        "platform_message_id, rewritten)": (
            "(1, 'poll:3:-100', 'poll', 3, 'send', 'telegram', '', '-100', 'group', '{}', "
            "'sent', 1, :at, :at, 'poll:14:5000000000000000014', false)"
        ),
    }
    async with engine.begin() as connection:
        for table, values in rows.items():
            await connection.execute(text(f"INSERT INTO {table} VALUES {values}"), {"at": START})
    await upgrade(engine)
    async with engine.begin() as connection:
        counts = await connection.execute(text("SELECT option_id, count FROM poll_counts"))
        assert sorted(counts.all()) == [(1, 3), (2, 1), (3, 2), (4, 1)]
        turnout = await connection.execute(
            text("SELECT poll_id, platform, voters FROM poll_turnout")
        )
        assert sorted(turnout.all()) == [
            (1, "console", 2),
            (1, "slack", 1),
            (1, "telegram", 1),
            (2, "slack", 2),  # a lower bound: who ticked several options is not known
        ]
        posts = await connection.execute(text("SELECT native_id, poll_id FROM poll_posts"))
        assert posts.all() == [("5000000000000000014", 3)]
    await upgrade_or_downgrade(engine, "0015")
    async with engine.begin() as connection:
        back = await connection.execute(text("SELECT option_id, count FROM poll_tallies"))
        assert sorted(back.all()) == [(1, 3), (2, 1), (3, 2), (4, 1)]
    await upgrade(engine)

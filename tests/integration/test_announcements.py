"""Announcements end to end: command, outbox, dispatcher, console delivery, scheduler."""

from __future__ import annotations

import asyncio
import io

from sqlalchemy import func, select

from councilbot.adapters.console import render
from councilbot.app import build_app
from councilbot.core.messages import Reply
from councilbot.db.models import Announcement, AnnouncementStatus, Delivery, Job, JobState
from tests.conftest import CORK_TEXT, Bot, Clock


async def deliveries(bot: Bot) -> int:
    async with bot.app.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Delivery))


async def test_announce_now_reaches_linked_chats_and_subscribers_once(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("bob@dm: /lang en")
    await bot("bob@dm: /subscribe announcements cork")
    await bot("bob@dm: /subscribe announcements all")  # still one message for bob
    await bot("/link cork")  # cork-chat is already linked; a second chat:
    await bot("admin@cork-2: /link cork")
    reply = await bot("/announce cork Hello <everyone> & welcome!")
    assert reply == ("Announcement #1 is on its way (queued: 3). /deliveries 1 shows how it goes.")
    await bot.app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    for chat in ("cork-chat", "cork-2", "dm:bob"):
        assert printed.count(f"[to {chat}] 📣 Announcement — {CORK_TEXT}\n") == 1
    assert printed.count("Hello <everyone> & welcome!") == 3
    assert await bot("/deliveries 1") == (
        "Announcement #1: 3 sent, 0 pending, 0 failed, 0 dead (of 3)."
    )


async def test_the_header_speaks_each_chat_language(bot: Bot, console_out: io.StringIO) -> None:
    await bot("admin@bologna-chat: /link bologna")
    await bot("/announce bologna,cork Ciao")
    await bot.app.dispatcher.run_until_idle()
    italian = bot.app.catalogs.translator("it")
    header = italian("📣 <b>Announcement — {councils}</b>", councils="Emilia-Romagna council")
    printed = console_out.getvalue()
    assert f"[to bologna-chat] {render(Reply(text=header))}\nCiao\n" in printed
    assert f"[to cork-chat] 📣 Announcement — {CORK_TEXT}\nCiao\n" in printed


async def test_coordinators_announce_only_to_their_councils(bot: Bot) -> None:
    await bot("carol: /lang en")
    assert await bot("carol: /announce cork Hi") == "Only coordinators can use /announce."
    await bot("/coordinator add carol cork")
    assert (await bot("carol: /announce cork Hi")).startswith("Announcement #1 is on its way")
    assert await bot("carol: /announce cork,paris Hi") == (
        "You can only announce to councils you coordinate; not to French council (Essonne)."
    )
    assert (await bot("carol: /announce all Hi")).startswith("You can only announce to councils")
    assert (await bot("/announce all Hi")).startswith("Announcement #2")  # admins may
    assert await bot("carol: /deliveries 2") == (
        "Announcement #2: 0 sent, 1 pending, 0 failed, 0 dead (of 1)."
    )


async def test_bad_announcements_change_nothing(bot: Bot) -> None:
    assert await bot("/announce cork") == (
        "Please write the announcement's text.\nUsage: /announce <councils|all> <text> "
        "[--at <when>] · /announce list · /announce cancel <id>"
    )
    assert (await bot("/announce cork hi --at yesterday 9:00")).startswith("I can't read")
    assert (await bot("/announce cork hi --at 2020-01-01 09:00")).startswith(
        "That time is already past."
    )
    assert (await bot("/announce corc hi")).startswith("There is no council “corc”.")
    assert (await bot(f"/announce cork {'x' * 3501}")).startswith(
        "The announcement is too long (3501 characters; at most 3500)."
    )
    assert await deliveries(bot) == 0
    async with bot.app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 0


async def test_scheduled_announcement_list_cancel(bot: Bot, clock: Clock) -> None:
    reply = await bot('/announce cork "Lean workshop tomorrow" --at 2026-12-02 09:30')
    assert reply == (
        f"Announcement #1 will go out on Wed 2 Dec 2026, 09:30 (Europe/Dublin) to {CORK_TEXT}. "
        "/announce cancel 1 cancels it."
    )
    assert await bot("/announce list") == (
        "Scheduled announcements\n#1 · Wed 2 Dec 2026, 09:30 · cork · Lean workshop tomorrow"
    )
    assert await bot("/deliveries 1") == (
        "Announcement #1 is scheduled for Wed 2 Dec 2026, 09:30; nothing was sent yet."
    )
    assert await bot("/announce cancel 1") == ("Announcement #1 is cancelled; it will not be sent.")
    assert await bot("/announce cancel 1") == "Announcement #1 is already cancelled."
    assert await bot("/announce list") == "No announcement is scheduled."
    async with bot.app.sessionmaker() as session:
        job = await session.scalar(select(Job))
    assert job.state is JobState.CANCELLED
    clock.advance(days=2)
    assert await bot.app.scheduler.fire_due() == 0
    assert await deliveries(bot) == 0


async def test_scheduled_announcement_fires_once_after_a_restart(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await bot("/announce cork Reminder --at tomorrow 08:00")
    assert await bot.app.scheduler.fire_due() == 0  # not due yet
    await bot.app.aclose()  # the process stops...

    restarted = await build_app(
        bot.app.settings,
        engine=bot.app.engine,
        catalogs=bot.app.catalogs,
        clock=clock,
        targets=bot.app.targets,
    )
    try:
        await restarted.scheduler.start()  # ...and a new one rebuilds its jobs from the table
        clock.advance(days=1)
        assert await restarted.scheduler.fire_due() == 1
        assert await restarted.scheduler.fire_due() == 0  # fires once
        await restarted.dispatcher.run_until_idle()
    finally:
        await restarted.aclose()
    assert console_out.getvalue().count("Reminder") == 1
    async with restarted.sessionmaker() as session:
        announcement = await session.scalar(select(Announcement))
    assert announcement.status is AnnouncementStatus.SENT


async def test_long_overdue_jobs_are_reported_as_missed(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old news --at tomorrow 08:00")
    clock.advance(days=3)  # the bot was down far longer than the grace period
    await bot.app.scheduler.sync()
    assert await bot.app.scheduler.fire_due() == 0
    assert bot.app.scheduler.missed == ["announcement:1"]
    assert (await bot("/announce list")).endswith(
        "· cork · Old news (missed: the bot was down at that time)"
    )
    assert await deliveries(bot) == 0


async def test_a_late_fire_does_not_run_a_long_overdue_job(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old news --at tomorrow 08:00")
    clock.advance(days=3)
    assert await bot.app.scheduler.fire_due() == 0  # no sync first: fire checks the grace too
    async with bot.app.sessionmaker() as session:
        announcement = await session.scalar(select(Announcement))
    assert announcement.status is AnnouncementStatus.MISSED
    assert await deliveries(bot) == 0


async def test_racing_syncs_report_a_missed_job_once(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old news --at tomorrow 08:00")
    clock.advance(days=3)
    await asyncio.gather(bot.app.scheduler.sync(), bot.app.scheduler.sync())
    assert bot.app.scheduler.missed == ["announcement:1"]

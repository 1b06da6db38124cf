"""Announcements end to end: command, outbox, dispatcher, console delivery, scheduler."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from councilbot.adapters.console import render
from councilbot.app import build_app
from councilbot.core.messages import Reply
from councilbot.db.models import Announcement, AnnouncementStatus, Delivery, Job, JobState
from councilbot.services import announcements
from tests.conftest import CORK_TEXT, Bot, Clock

USAGE = (
    "Usage: /announce <councils|all> <text> [--at <when>] [--yes] · /announce list · "
    "/announce send <id> · /announce cancel <id> · /announce edit <id> <text> · /announce delete <id>"
)


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
    assert await bot("/announce cork Hello <everyone> & welcome!") == (
        f"📣 Announcement — {CORK_TEXT}\n"
        "Hello <everyone> & welcome!\n\n"
        "Preview of announcement #1: it goes to 2 chats and 1 subscriber in Cork, now. "
        "Nothing is sent until you press Send.\n"
        "[1] Send  [2] Edit  [3] Cancel"
    )
    assert await deliveries(bot) == 0  # nothing is queued until Send
    reply = await bot("1")
    assert reply == (
        "Announcement #1 is on its way to 2 chats and 1 subscriber. /deliveries 1 shows how it "
        "goes."
    )
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
    await bot("/announce bologna,cork Ciao --yes")
    await bot.app.dispatcher.run_until_idle()
    italian = bot.app.catalogs.translator("it")
    header = italian("📣 <b>Announcement — {councils}</b>", councils="Emilia-Romagna council")
    printed = console_out.getvalue()
    assert f"[to bologna-chat] {render(Reply(text=header))}\nCiao\n" in printed
    assert f"[to cork-chat] 📣 Announcement — {CORK_TEXT}\nCiao\n" in printed


async def test_coordinators_announce_only_to_their_councils(bot: Bot) -> None:
    await bot("carol: /lang en")
    assert await bot("carol: /announce cork Hi --yes") == "Only coordinators can use /announce."
    await bot("/coordinator add carol cork")
    assert (await bot("carol: /announce cork Hi --yes")).startswith("Announcement #1 is on its way")
    assert await bot("carol: /announce cork,paris Hi --yes") == (
        "You can only announce to councils you coordinate; not to French council (Essonne)."
    )
    assert (await bot("carol: /announce all Hi --yes")).startswith(
        "Announcing to all councils needs an admin, or a coordinator of every council"
    )
    assert (await bot("/announce all Hi --yes")).startswith("Announcement #2")  # admins may
    assert await bot("carol: /deliveries 2") == (
        "Announcement #2: 0 sent, 1 pending, 0 failed, 0 dead (of 1)."
    )


async def test_bad_announcements_change_nothing(bot: Bot) -> None:
    assert await bot("/announce cork --yes") == ("Please write the announcement's text.\n" + USAGE)
    assert (await bot("/announce cork hi --at yesterday 9:00 --yes")).startswith("I can't read")
    assert (await bot("/announce cork hi --at 2020-01-01 09:00 --yes")).startswith(
        "Wed 1 Jan 2020, 09:00 GMT has already passed: it is Tue 1 Dec, 09:00 GMT there."
    )
    assert (await bot("/announce corc hi --yes")).startswith("There is no council “corc”.")
    assert (await bot(f"/announce cork {'x' * 3501} --yes")).startswith(
        "The announcement is too long (3501 characters; at most 3500)."
    )
    await bot("/lang es")
    assert (await bot(f"/announce cork {'x' * 3501} --yes")).startswith(
        "El anuncio es demasiado largo (3501 caracteres; máximo 3500)."
    )
    assert await deliveries(bot) == 0
    async with bot.app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 0


async def test_scheduled_announcement_list_cancel(bot: Bot, clock: Clock) -> None:
    reply = await bot('/announce cork "Lean workshop tomorrow" --at 2026-12-02 09:30 --yes')
    assert reply == (
        f"Announcement #1 will go out on Wed 2 Dec, 09:30 GMT to {CORK_TEXT}. "
        "/announce cancel 1 cancels it."
    )
    assert await bot("/announce list") == (
        "Scheduled announcements\n#1 · Wed 2 Dec, 09:30 GMT · cork · Lean workshop tomorrow"
    )
    assert await bot("/deliveries 1") == (
        "Announcement #1 is scheduled for Wed 2 Dec, 09:30 GMT; nothing was sent yet."
    )
    clock.advance(minutes=75)
    assert await bot("/announce cancel 1") == ("Announcement #1 is cancelled; it will not be sent.")
    assert await bot("/deliveries 1") == (
        "Announcement #1 was cancelled on Tue 1 Dec, 10:15 GMT; nothing was sent."
    )
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
    await bot("/announce cork Reminder --at tomorrow 08:00 --yes")
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
    await bot("/announce cork Old news --at tomorrow 08:00 --yes")
    clock.advance(days=3)  # the bot was down far longer than the grace period
    await bot.app.scheduler.sync()
    assert await bot.app.scheduler.fire_due() == 0
    assert bot.app.scheduler.counts == {("announcement.send", "missed"): 1}
    assert (await bot("/announce list")).endswith(
        "· cork · Old news (missed: the bot was down at that time; /announce send 1 to send it "
        "late)"
    )
    assert await bot("/deliveries 1") == (
        "Announcement #1 was not sent: it was due on Wed 2 Dec, 08:00 GMT "
        "and the bot was down at that time. /announce send 1 to send it late; "
        "/announce cancel 1 drops it."
    )
    assert await deliveries(bot) == 0
    # Late, but not lost: its author sees it again, as readers will get it today, and sends it.
    preview = await bot("/announce send 1")
    assert preview.startswith(
        "Announcement #1 was due on Wed 2 Dec, 08:00 GMT, while the bot was down. Here it is "
        "again: Send sends it now, late.\n"
    )
    assert "it goes to 1 chat and 0 subscribers in Cork, now." in preview
    assert await deliveries(bot) == 0  # nothing until Send
    assert await bot("1") == (
        "Announcement #1 is on its way to 1 chat. /deliveries 1 shows how it goes."
    )
    assert await bot("/announce send 1") == (
        "Announcement #1 was already sent on Fri 4 Dec, 09:00 GMT. /deliveries 1 shows how it went."
    )
    assert await deliveries(bot) == 1


async def test_a_late_fire_does_not_run_a_long_overdue_job(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old news --at tomorrow 08:00 --yes")
    clock.advance(days=3)
    assert await bot.app.scheduler.fire_due() == 0  # no sync first: fire checks the grace too
    async with bot.app.sessionmaker() as session:
        announcement = await session.scalar(select(Announcement))
    assert announcement.status is AnnouncementStatus.MISSED
    assert await deliveries(bot) == 0


async def test_racing_syncs_report_a_missed_job_once(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old news --at tomorrow 08:00 --yes")
    clock.advance(days=3)
    await asyncio.gather(bot.app.scheduler.sync(), bot.app.scheduler.sync())
    assert bot.app.scheduler.counts == {("announcement.send", "missed"): 1}


CANCELLED = "Announcement #{id} is cancelled; it will not be sent."
ON_ITS_WAY = (
    "Announcement #{id} is already on its way, so it can no longer be cancelled. "
    "/deliveries {id} shows how it goes."
)


async def outcome(bot: Bot, announcement_id: int) -> tuple[AnnouncementStatus, int, JobState]:
    """Return an announcement's status, its queued deliveries and its job's state."""
    async with bot.app.sessionmaker() as session:
        announcement = await session.get(Announcement, announcement_id)
        queued = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.source == announcements.SOURCE, Delivery.source_id == announcement_id)
        )
        job = await session.scalar(
            select(Job).where(Job.name == announcements.job_name(announcement_id))
        )
    return announcement.status, queued, job.state


async def schedule_round(bot: Bot, clock: Clock, number: int) -> None:
    """Schedule announcement `number` an hour ahead, and move the clock to its time."""
    due = (clock.now + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Dublin"))
    await bot(f"/announce cork Round {number} --at {due:%Y-%m-%d %H:%M} --yes")
    clock.advance(hours=1)


async def hold_the_job_row(
    bot: Bot, name: str, held: asyncio.Event, release: asyncio.Event
) -> None:
    """Lock a job's row in a transaction of our own until `release` is set.

    On SQLite the transaction is a write transaction (BEGIN IMMEDIATE) on the one connection.
    """
    async with bot.app.engine.connect() as connection, connection.begin():
        await connection.execute(select(Job.id).where(Job.name == name).with_for_update())
        held.set()
        await release.wait()


async def until_waiting(bot: Bot, count: int) -> None:
    """Return once `count` transactions wait for the held job row."""
    if bot.app.engine.dialect.name != "postgresql":
        # They queue for SQLite's one connection, in the order they asked for it, with no
        # I/O before: a pause of the event loop is enough for each to join the queue.
        await asyncio.sleep(0.05)
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(30):
        while True:
            async with bot.app.engine.connect() as connection:
                if await connection.scalar(waiting) >= count:
                    return
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("first", "told", "fired", "state"),
    [
        ("cancel", CANCELLED, False, (AnnouncementStatus.CANCELLED, 0, JobState.CANCELLED)),
        ("fire", ON_ITS_WAY, True, (AnnouncementStatus.SENT, 1, JobState.DONE)),
    ],
    ids=["cancel-first", "fire-first"],
)
async def test_whichever_of_a_cancel_and_the_firing_takes_the_job_first_wins(
    bot: Bot,
    clock: Clock,
    first: str,
    told: str,
    fired: bool,
    state: tuple[AnnouncementStatus, int, JobState],
) -> None:
    """Hold the job row while one side starts, then the other; let go once both wait."""
    await schedule_round(bot, clock, 1)
    name = announcements.job_name(1)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(hold_the_job_row(bot, name, held, release))
    await held.wait()
    sides: dict[str, Callable[[], Awaitable[str | bool]]] = {
        "cancel": lambda: bot("/announce cancel 1"),
        "fire": lambda: bot.app.scheduler.fire(name),
    }
    second = "fire" if first == "cancel" else "cancel"
    tasks = {first: asyncio.ensure_future(sides[first]())}
    await until_waiting(bot, 1)
    tasks[second] = asyncio.ensure_future(sides[second]())
    await until_waiting(bot, 2)
    release.set()
    await holder
    assert (await tasks["cancel"], await tasks["fire"]) == (told.format(id=1), fired)
    assert await outcome(bot, 1) == state


async def test_a_cancel_racing_the_firing_is_either_a_cancel_or_a_send(
    bot: Bot, clock: Clock
) -> None:
    """Cancel and fire at once, staggered both ways: never "cancelled" with deliveries queued."""
    for number in range(1, 13):
        await schedule_round(bot, clock, number)
        # From the cancel a little ahead to the firing a little ahead; which wins is luck.
        lead = (number % 4 - 2) * 0.004

        async def cancel(number: int = number, lead: float = lead) -> str:
            await asyncio.sleep(max(lead, 0))
            return await bot(f"/announce cancel {number}")

        async def fire(number: int = number, lead: float = lead) -> bool:
            await asyncio.sleep(max(-lead, 0))
            return await bot.app.scheduler.fire(announcements.job_name(number))

        told, fired = await asyncio.gather(cancel(), fire())
        state = await outcome(bot, number)
        if told == CANCELLED.format(id=number):
            assert (fired, state) == (False, (AnnouncementStatus.CANCELLED, 0, JobState.CANCELLED))
        else:
            assert told == ON_ITS_WAY.format(id=number)
            assert fired and state == (AnnouncementStatus.SENT, 1, JobState.DONE)


async def test_an_announcement_sent_earlier_is_said_to_have_gone_out_then(
    bot: Bot, clock: Clock
) -> None:
    await bot("/announce cork Now --yes")
    await bot("/announce cork Later --at tomorrow 08:00 --yes")
    clock.advance(hours=23)
    assert await bot.app.scheduler.fire_due() == 1
    clock.advance(days=3)
    assert await bot("/announce cancel 1") == (
        "Announcement #1 was already sent on Tue 1 Dec, 09:00 GMT, so it can "
        "no longer be cancelled. /deliveries 1 shows how it went."
    )
    assert await bot("/announce cancel 2") == (
        "Announcement #2 was already sent on Wed 2 Dec, 08:00 GMT, so it can "
        "no longer be cancelled. /deliveries 2 shows how it went."
    )
    await bot("/lang es")
    assert await bot("/announce cancel 2") == (
        "El anuncio #2 ya se envió el mié 2 dic, 08:00 GMT, así que ya no "
        "se puede cancelar. /deliveries 2 muestra cómo fue."
    )
    async with bot.app.sessionmaker() as session:
        statuses = list(await session.scalars(select(Announcement.status)))
    assert statuses == [AnnouncementStatus.SENT, AnnouncementStatus.SENT]


MALAGA_TEXT = "Andalusian council (Smart City cluster)"


async def test_only_its_author_an_admin_or_a_coordinator_of_all_its_councils_may_cancel(
    bot: Bot,
) -> None:
    for person in ("bob", "carol"):
        await bot(f"{person}@dm: /lang en")
    await bot("/coordinator add bob cork")
    for council in ("cork", "malaga"):
        await bot(f"/coordinator add carol {council}")
    await bot('/announce cork,malaga "Hello both" --at tomorrow 10:00 --yes')  # #1, by the admin
    await bot('/announce cork "Hello Cork" --at tomorrow 10:00 --yes')  # #2
    await bot('carol@dm: /announce cork,malaga "From carol" --at tomorrow 10:00 --yes')  # #3
    await bot("/coordinator remove carol malaga")
    # bob sees what reaches his council, but may cancel only what reaches his councils alone.
    assert [line.split(" · ")[0] for line in (await bot("bob@dm: /announce list")).split("\n")] == [
        "Scheduled announcements", "#1", "#2", "#3",
    ]  # fmt: skip
    assert (await bot("bob@dm: /deliveries 1")).startswith("Announcement #1 is scheduled for")
    refusal = (
        "Only its author, an admin or a coordinator of every council it goes to can cancel "
        "announcement #{id}; you do not coordinate {councils}."
    )
    assert await bot("bob@dm: /announce cancel 1") == refusal.format(id=1, councils=MALAGA_TEXT)
    assert await bot("bob@dm: /announce cancel 3") == refusal.format(id=3, councils=MALAGA_TEXT)
    await bot("bob@dm: /lang es")
    assert await bot("bob@dm: /announce cancel 1") == (
        "Solo su autor, un administrador o quien coordine todos los consejos a los que va "
        f"dirigido puede cancelar el anuncio #1; tú no coordinas {MALAGA_TEXT}."
    )
    assert await bot("bob@dm: /announce cancel 2") == "Anuncio #2 cancelado; no se enviará."
    # The author may cancel their own, even without coordinating all its councils any more.
    assert await bot("carol@dm: /announce cancel 3") == CANCELLED.format(id=3)
    async with bot.app.sessionmaker() as session:
        found = await session.scalars(select(Announcement).order_by(Announcement.id))
        assert [a.status for a in found] == [
            AnnouncementStatus.SCHEDULED, AnnouncementStatus.CANCELLED, AnnouncementStatus.CANCELLED,
        ]  # fmt: skip
        states = await session.scalars(select(Job.state).order_by(Job.id))
        assert list(states) == [JobState.PENDING, JobState.CANCELLED, JobState.CANCELLED]


async def test_a_missed_announcement_can_still_be_cancelled(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old news --at tomorrow 08:00 --yes")
    clock.advance(days=3)
    await bot.app.scheduler.sync()
    assert await bot("/announce cancel 1") == CANCELLED.format(id=1)
    assert await bot("/announce list") == "No announcement is scheduled."
    assert await outcome(bot, 1) == (AnnouncementStatus.CANCELLED, 0, JobState.MISSED)


async def test_deliveries_of_an_announcement_cancelled_before_the_time_was_kept(bot: Bot) -> None:
    await bot("/announce cork Lean workshop --at tomorrow 08:00 --yes")
    await bot("/announce cancel 1")
    async with bot.app.sessionmaker() as session, session.begin():
        (await session.get(Announcement, 1)).cancelled_at = None
    assert await bot("/deliveries 1") == "Announcement #1 was cancelled; nothing was sent."


async def test_deliveries_of_an_announcement_that_reached_nobody(bot: Bot) -> None:
    await bot("/announce paris Bonjour --yes")  # no Paris chat is linked, nobody subscribed
    assert await bot("/deliveries 1") == (
        "Announcement #1 went out on Tue 1 Dec, 10:00 CET but reached nobody: "
        "no chat was linked to French council (Essonne) and nobody had subscribed."
    )


async def test_a_council_named_twice_counts_once(bot: Bot) -> None:
    await bot("admin@paris-chat: /link paris")
    assert await bot('/announce paris,cork,Paris,cork "Hello" --yes') == (
        "Announcement #1 is on its way to 2 chats. /deliveries 1 shows how it goes."
    )
    scheduled = await bot("/announce paris,cork,paris Later --at tomorrow 08:00 --yes")
    assert f"to French council (Essonne), {CORK_TEXT}." in scheduled  # in the order named
    async with bot.app.sessionmaker() as session:
        first = await session.get(Announcement, 1)
        assert [c.slug for c in first.councils] == ["cork", "paris"]
    assert await deliveries(bot) == 2


async def test_announce_list_and_cancel_explain_what_they_need(bot: Bot) -> None:
    usage = "\nUsage: /announce cancel <id>"  # that form's usage alone
    assert await bot("/announce cancel") == (
        "Which announcement should I cancel? Give its id, e.g. /announce cancel 12; "
        "/announce list shows the scheduled announcements with their ids." + usage
    )
    assert await bot("/announce cancel abc") == (
        "“abc” is not an announcement id: ids are numbers, like 12. "
        "/announce list shows the scheduled announcements with their ids." + usage
    )
    assert await bot("/announce list extra") == "I didn't expect extra.\nUsage: /announce list"
    assert await bot("/announce cancel 7") == "There is no announcement #7."
    async with bot.app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 0


async def test_deliveries_explains_what_it_needs_like_cancel(bot: Bot) -> None:
    assert await bot("/deliveries") == (
        "Which announcement should I report on? Give its id, e.g. /deliveries 12: my answer to "
        "/announce gave it, and /announce list shows the scheduled ones with theirs.\n"
        "Usage: /deliveries <id>"
    )
    assert await bot("/deliveries abc") == (
        "“abc” is not an announcement id: ids are numbers, like 12. "
        "/announce list shows the scheduled announcements with their ids.\n"
        "Usage: /deliveries <id>"
    )
    for command in ("/deliveries", "/announce cancel"):
        assert await bot(f"{command} 99999999999999999999") == (
            "There is no announcement #99999999999999999999."
        )
        assert await bot(f"{command} #7") == "There is no announcement #7."
    await bot("/announce cork Hello --yes")
    assert (await bot("/deliveries #1")).startswith("Announcement #1: ")


async def test_announce_list_shows_each_time_in_its_announcement_zone(bot: Bot) -> None:
    await bot("admin@malaga-chat: /link malaga")
    await bot("/announce cork Cork news --at 2026-12-02 09:30 --yes")  # Dublin time
    await bot("admin@malaga-chat: /announce malaga,istanbul Noticias --at 2026-12-03 10:00 --yes")
    expected = (
        "Scheduled announcements\n"
        "#1 · Wed 2 Dec, 09:30 GMT · cork · Cork news\n"
        # Read in Madrid's zone (typed in the Málaga chat), shown in it: not Istanbul's.
        "#2 · Thu 3 Dec, 10:00 CET · istanbul, malaga · Noticias"
    )
    assert await bot("/announce list") == expected
    await bot("/lang en")  # the same list read from the Málaga chat:
    assert await bot("admin@malaga-chat: /announce list") == expected


async def test_a_cancel_too_late_is_answered_in_the_chat_language(bot: Bot) -> None:
    await bot("/announce cork Hello --yes")
    await bot("admin@malaga-chat: /link malaga")
    assert await bot("admin@malaga-chat: /announce cancel 1") == (
        "El anuncio #1 ya está en camino, así que ya no se puede cancelar. "
        "/deliveries 1 muestra cómo va."
    )


async def test_counts_agree_with_their_number_in_spanish(bot: Bot) -> None:
    await bot("/lang es")
    assert await bot("/announce cork Hola --yes") == (
        "El anuncio #1 va de camino a 1 chat. /deliveries 1 muestra cómo va."
    )
    await bot.app.dispatcher.run_until_idle()
    assert await bot("/deliveries 1") == (
        "Anuncio #1: 1 enviado, 0 pendientes, 0 fallidos, 0 no entregables (de 1)."
    )


async def stored(bot: Bot) -> list[tuple[list[str], str, object]]:
    """Return each stored announcement as (council slugs, text, scheduled time)."""
    async with bot.app.sessionmaker() as session:
        found = await session.scalars(select(Announcement).order_by(Announcement.id))
        return [([c.slug for c in a.councils], a.text, a.scheduled_at) for a in found]


async def jobs(bot: Bot) -> int:
    async with bot.app.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Job))


async def test_a_council_list_may_have_spaces_around_its_commas(bot: Bot) -> None:
    for line in (
        '/announce cork, malaga "x"',
        '/announce cork ,malaga "x"',
        '/announce cork , malaga "x"',
        "/announce cork, malaga x y",
    ):
        assert "is on its way to 1 chat" in await bot(line + " --yes")  # malaga has no chat yet
    assert await stored(bot) == [
        (["cork", "malaga"], "x", None),
        (["cork", "malaga"], "x", None),
        (["cork", "malaga"], "x", None),
        (["cork", "malaga"], "x y", None),
    ]


async def test_a_dash_a_phone_made_of_two_hyphens_still_schedules(bot: Bot) -> None:
    for dash in ("—", "–", "−"):
        reply = await bot(f'/announce cork "x" {dash}at tomorrow 09:00 --yes')
        assert reply.startswith("Announcement #") and "will go out on Wed 2 Dec, 09:00 GMT" in reply
    tomorrow_nine = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Dublin is on UTC in December
    assert [
        (slugs, text, at and at.replace(tzinfo=UTC)) for slugs, text, at in await stored(bot)
    ] == [(["cork"], "x", tomorrow_nine)] * 3
    assert await deliveries(bot) == 0
    # A dash before a word that is no option of /announce is text.
    await bot("/announce cork 10 — 12 people —welcome --yes")
    assert (await stored(bot))[-1][1] == "10 — 12 people —welcome"


async def test_a_quoted_text_followed_by_more_words_is_refused(bot: Bot) -> None:
    assert await bot('/announce cork "a" at tomorrow --yes') == (
        "I can't tell where the text ends: “at tomorrow” comes after the quoted part. "
        "Put all of the text inside the quotes, and start options with --.\n" + USAGE
    )
    assert (await bot('/announce cork "a" b --yes')).startswith("I can't tell where the text ends")
    assert await stored(bot) == []
    assert (await deliveries(bot), await jobs(bot)) == (0, 0)
    # Quoted whole, or not quoted at all, the text is taken.
    assert "will go out" in await bot('/announce cork "hello world" --at tomorrow 09:00 --yes')
    assert "is on its way" in await bot("/announce cork hello world --yes")
    assert [text for _, text, _ in await stored(bot)] == ["hello world", "hello world"]


ANNOUNCE_USAGE = "\n" + USAGE


async def test_a_slip_in_the_time_option_sends_nothing(bot: Bot) -> None:
    assert await bot('/announce cork "unclosed quote --at tomorrow 9:00 --yes') == (
        'The quote that opens at "unclosed quote --at… has no closing ": add it, or leave the '
        "quotes out." + ANNOUNCE_USAGE
    )
    assert await bot("/announce cork “Smart quote unclosed —at tomorrow 9:00 --yes") == (
        "The quote that opens at “Smart quote unclosed… has no closing ”: add it, or leave the "
        "quotes out." + ANNOUNCE_USAGE
    )
    did_you_mean = (
        "Did you mean --at? Options start with -- and no space; if “{words}” belongs to the "
        "text, put the text in quotes." + ANNOUNCE_USAGE
    )
    for typed in ("-at", "-- at", "— at", "– at", "−− at"):
        assert await bot(
            f"/announce cork Hello {typed} tomorrow 9:00 --yes"
        ) == did_you_mean.format(words=typed)
    assert await stored(bot) == []
    assert (await deliveries(bot), await jobs(bot)) == (0, 0)
    # Hyphens and quotes that are text stay text.
    await bot("/announce cork Call -5, e-mail -abc or '90s fans --yes")
    assert (await stored(bot))[-1][1] == "Call -5, e-mail -abc or '90s fans"


async def test_a_slip_in_an_option_is_refused_in_the_reader_language(bot: Bot) -> None:
    await bot("/lang fr")
    assert (await bot("/announce cork Hello -at 9:00 --yes")).startswith("Vouliez-vous dire --at ?")
    assert await stored(bot) == []


async def test_a_time_a_clock_change_skips_or_repeats_is_explained(bot: Bot) -> None:
    await bot("admin@malaga-chat: /link malaga")
    await bot("admin@malaga-chat: /lang en")
    assert await bot("admin@malaga-chat: /announce malaga x --at 2027-03-28 02:30 --yes") == (
        "02:30 does not exist on 28 Mar in Europe/Madrid (clocks go forward); "
        "I used 03:30 (UTC+02:00).\n"
        "Announcement #1 will go out on Sun 28 Mar 2027, 03:30 CEST to "
        "Andalusian council (Smart City cluster). /announce cancel 1 cancels it."
    )
    assert await bot("admin@malaga-chat: /announce malaga x --at 31/10/2027 2:30 --yes") == (
        "02:30 happens twice on 31 Oct in Europe/Madrid (clocks go back); I used the first one, "
        "02:30 (UTC+02:00). For the second one, write 2027-10-31T02:30+01:00.\n"
        "Announcement #2 will go out on Sun 31 Oct 2027, 02:30 CEST to "
        "Andalusian council (Smart City cluster). /announce cancel 2 cancels it."
    )
    # Doing what the note says gets the second one, with nothing more to explain.
    assert await bot("admin@malaga-chat: /announce malaga x --at 2027-10-31T02:30+01:00 --yes") == (
        "Announcement #3 will go out on Sun 31 Oct 2027, 02:30 CET to "
        "Andalusian council (Smart City cluster). /announce cancel 3 cancels it."
    )
    assert (
        await bot("admin@malaga-chat: /announce malaga x --at 2027-03-28 03:30 --yes")
    ).startswith("Announcement #4 will go out")
    assert [at.replace(tzinfo=UTC) for _, _, at in await stored(bot)] == [
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        datetime(2027, 10, 31, 1, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
    ]
    # The Spanish answer explains it too, with no English zone abbreviation in it.
    await bot("admin@malaga-chat: /lang es")
    reply = await bot("admin@malaga-chat: /announce malaga x --at 2027-03-28 02:30 --yes")
    assert reply.startswith(
        "La hora 02:30 no existe el 28 mar en Europe/Madrid (los relojes se adelantan); "
        "he usado las 03:30 (UTC+02:00).\n"
    )

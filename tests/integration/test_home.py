"""A member's home: /me, /mydata, /forgetme and the weekly digest, on the console.

/forgetme is checked against every column of every table the models declare, so that a
feature adding a table without erasing its personal data fails here.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.features import MemberView
from councilbot.db.base import Base
from councilbot.db.models import CalendarToken, DigestSent, Identity, Job, Member
from councilbot.db.session import create_sessionmaker
from councilbot.services import events, home
from councilbot.services.councils import read_seed_file
from councilbot.services.desks import seed_facilities
from councilbot.services.home import UTC_ZONE
from tests.conftest import SEED_FILE, START, Bot, Clock

# Distinctive, so that a scan of the database finds them only where they are stored.
NAME = "zelda7q"


async def test_me_shows_subscriptions_with_unsubscribe_buttons_and_linked_accounts(
    bot: Bot,
) -> None:
    await bot(f"{NAME}@dm: /start cork")
    await bot(f"{NAME}@dm: /subscribe announcements cork")
    reply = await bot.reply(f"{NAME}@dm: /me")
    assert reply.private
    text = await bot(f"{NAME}@dm: /me")
    assert text.startswith(f"Your home, {NAME}\n\nSubscriptions\n• announcements — ")
    assert "Linked accounts\n• Console: @" + NAME in text
    assert "/linkaccount joins your account on another platform." in text
    assert "[1] Unsubscribe announcements (cork)" in text
    assert (
        await bot(f"{NAME}@dm: 1")
        == "Unsubscribed: no more announcements for Southern Ireland council (MTU)."
    )
    assert "None yet: /subscribe lists the topics" in await bot(f"{NAME}@dm: /me")
    await bot(f"{NAME}@dm: /subscribe magazine")
    await bot(f"{NAME}@dm: /subscribe digest")
    text = await bot(f"{NAME}@dm: /me")
    # Topics that are the same for every council show no council, and unsubscribe whole.
    assert "Subscriptions\n• the weekly digest\n• magazine issues\n" in text
    assert "[1] Unsubscribe the weekly digest  [2] Unsubscribe magazine issues" in text


async def test_me_in_a_group_is_answered_privately(bot: Bot) -> None:
    reply = await bot.reply(f"{NAME}: /me")
    assert reply.private
    assert reply.text.startswith("<b>Your home</b>")


async def test_mydata_sends_a_json_file_of_every_feature(bot: Bot) -> None:
    await bot(f"{NAME}@dm: /start cork")
    await bot(f"{NAME}@dm: /subscribe announcements all")
    await bot(f"admin@dm: /coordinator add @{NAME} cork")
    await bot(f"{NAME}@dm: /announce cork Hello from the hub --yes")
    reply = await bot.reply(f"{NAME}@dm: /mydata")
    assert reply.private and reply.file is not None
    assert reply.file.filename == "councilbot-my-data.json"
    data = json.loads(reply.file.data)
    assert data["general"]["member"]["display_name"] == NAME
    assert data["general"]["member"]["home_council"] == "cork"
    assert data["general"]["identities"][0]["user_id"] == NAME
    assert data["general"]["roles"] == [
        {
            "role": "coordinator",
            "council": "cork",
            "created_at": data["general"]["roles"][0]["created_at"],
        }
    ]
    assert [s["council"] for s in data["general"]["subscriptions"]] == ["all"]
    assert data["announcements"]["announcements"][0]["text"] == "Hello from the hub"
    assert set(data) == {
        "format",
        "exported_at",
        "general",
        "announcements",
        "events",
        "desks",
        "polls",
        "magazine",
    }


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


async def _personal_values(bot: Bot, values: list[str]) -> list[str]:
    """Return `table.column = value` for every stored value holding one of `values`.

    Every column of every table the models declare (Base.metadata), whatever its type.
    """
    wanted = [v.lower() for v in values]
    found = []
    async with bot.app.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                rows = await session.execute(select(column).where(column.is_not(None)))
                found += [
                    f"{table.name}.{column.name} = {value!r}"
                    for (value,) in rows
                    if any(v in _as_text(value).lower() for v in wanted)
                ]
    return found


async def test_forgetme_asks_first_then_leaves_no_personal_value_in_any_table(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot(f"{NAME}@dm: /start cork")
    await bot(f"{NAME}@dm: /subscribe announcements cork")
    await bot(f"{NAME}@dm: /lang it")
    await bot(f"{NAME}@dm: /mycalendar")
    await bot(f"admin@dm: /coordinator add @{NAME} cork")
    await bot(f"{NAME}: /announce cork A published notice --yes")
    await bot(f"{NAME}@dm: /linkaccount")
    await bot.app.dispatcher.run_until_idle()
    assert await _personal_values(bot, [NAME])  # the scan does find them before
    asked = await bot.reply(f"{NAME}@dm: /forgetme")
    assert [b.command for b in asked.button_list] == ["/forgetme yes", "/forgetme no"]
    await bot(f"{NAME}@dm: 2")
    assert await _personal_values(bot, [NAME])  # "No" erased nothing
    await bot(f"{NAME}@dm: /forgetme")
    await bot(f"{NAME}@dm: 1")
    assert await _personal_values(bot, [NAME]) == []
    async with bot.app.sessionmaker() as session:
        # The council's published announcement is kept, without its author.
        notice = await session.scalar(
            select(func.count()).select_from(Base.metadata.tables["announcements"])
        )
        assert notice == 1
        assert await session.scalar(select(func.count()).select_from(Member)) == 1  # admin
    # Writing again meets a newcomer.
    assert "Hello zelda7q" in await bot(f"{NAME}@dm: /start")


async def test_forgetme_in_a_group_is_refused(bot: Bot) -> None:
    assert await bot(f"{NAME}: /forgetme yes") == (
        "For your safety, send /forgetme to me in a private chat."
    )
    async with bot.app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Identity)) >= 1


MONDAY_8_DUBLIN = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 08:00 GMT in Cork


async def test_the_digest_goes_out_on_monday_at_8_in_the_members_zone_once_per_week(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await bot(f"{NAME}@dm: /start cork")
    await bot("ipek@dm: /start istanbul")
    await bot("ipek@dm: /lang tr")
    await bot("pierre@dm: /start paris")
    await bot("admin: /announce cork Desks free on Friday --yes")
    await bot("admin@dm: /announce istanbul Teknopark açık --yes")
    for who in (NAME, "ipek", "pierre"):
        await bot(f"{who}@dm: /subscribe digest")
    scheduler = bot.app.scheduler

    async def at(moment: datetime) -> list[str]:
        clock.now = moment
        # Two workers firing at once still send one digest per member.
        await asyncio.gather(scheduler.fire_due(), scheduler.fire_due())
        await bot.app.dispatcher.run_until_idle()
        async with bot.app.sessionmaker() as session:
            return [d.week for d in await session.scalars(select(DigestSent))]

    # 08:00 in Istanbul (the job is long overdue: missed, which runs it all the same).
    assert await at(datetime(2026, 12, 7, 5, 0, tzinfo=UTC)) == ["2026-W50"]
    assert (
        "[to dm:ipek] Haftanız — Pzt 7 Ara\n\nHaftanın duyuruları\n• "
        "Sal 1 Ara, 12:00 UTC+03: Teknopark açık" in console_out.getvalue()
    )
    async with bot.app.sessionmaker() as session:
        job = await session.scalar(select(Job).where(Job.name == home.DIGEST_JOB))
    assert job is not None and job.due_at == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    # 08:00 in Paris: nothing happened there this week, so the week is recorded, not sent.
    assert len(await at(datetime(2026, 12, 7, 7, 0, tzinfo=UTC))) == 2
    assert "[to dm:pierre]" not in console_out.getvalue()
    clock.now = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # a new issue, after Paris's digest
    await bot('admin@dm: /publish 7 "Green SMEs" https://empower.example.org/7')
    await bot("admin@dm: 1")  # Send
    assert len(await at(MONDAY_8_DUBLIN)) == 3
    printed = console_out.getvalue()
    assert (
        f"[to dm:{NAME}] Your week — Mon 7 Dec\n\nAnnouncements of the week\n"
        "• Tue 1 Dec, 09:00 GMT: Desks free on Friday\n\nNew in the magazine\n"
        "• 📰 EMPOWER #7: Green SMEs\n[1] Read (https://empower.example.org/7)" in printed
    )
    assert len(await at(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))) == 3
    assert console_out.getvalue() == printed  # once per week and member
    # The next Monday is another week.
    assert len(await at(datetime(2026, 12, 14, 8, 0, tzinfo=UTC))) == 6


async def test_concurrent_first_calendar_requests_make_one_url(bot: Bot) -> None:
    await bot(f"{NAME}@dm: /start cork")
    answers = await asyncio.gather(*(bot(f"{NAME}@dm: /mycalendar") for _ in range(6)))
    assert sum("/calendar/me/" in a for a in answers) == 1
    assert sum("cannot show it again" in a for a in answers) == 5


async def test_concurrent_erasures_erase_once_and_all_answer(bot: Bot) -> None:
    await bot(f"{NAME}@dm: /subscribe announcements cork")
    answers = await asyncio.gather(*(bot(f"{NAME}@dm: /forgetme yes") for _ in range(4)))
    assert all(a.startswith("Done: I erased everything") for a in answers), answers
    assert await _personal_values(bot, [NAME]) == []


async def test_linking_two_accounts_keeps_one_calendar_url_and_one_digest_a_week(
    bot: Bot,
) -> None:
    first = await bot("ana@dm: /mycalendar")
    await bot("anna@dm: /mycalendar")
    code = (await bot("ana@dm: /linkaccount")).split("/linkaccount ")[1].split()[0]
    assert "accounts are linked" in await bot(f"anna@dm: /linkaccount {code}")
    async with bot.app.sessionmaker() as session:
        tokens = await session.scalar(select(func.count()).select_from(CalendarToken))
    assert tokens == 1
    url = first.split("\n")[1]
    async with bot.app.router.reader() as session:
        assert await home.member_of_token(session, url.rsplit("/", 1)[1].removesuffix(".ics"))


async def _event(bot: Bot, cap: int = 1) -> None:
    """Post a Cork event, E1, on Thu 3 Dec 18:00-20:00 GMT."""
    await bot(f'/newevent "Lean workshop" 2026-12-03 18:00-20:00 cap {cap}')
    assert "E1 is posted" in await bot("1")


async def test_me_shows_the_events_a_member_goes_to_or_waits_for_with_their_buttons(
    bot: Bot, clock: Clock
) -> None:
    await _event(bot)
    await bot(f"{NAME}@dm: /start cork")
    await bot("bea@dm: /start cork")
    await bot(f"{NAME}: /rsvp E1")
    await bot("bea: /rsvp E1")
    mine = await bot(f"{NAME}@dm: /me")
    assert "Your events\n• Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT — going" in mine
    assert "[1] Not going E1" in mine
    assert "— waitlist, number 1" in await bot("bea@dm: /me")
    clock.now = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # the day of the event
    assert "[2] Check in E1" in await bot(f"{NAME}@dm: /me")
    await bot(f"{NAME}@dm: 1")  # Not going: Bea gets the place
    assert "Your events" not in await bot(f"{NAME}@dm: /me")
    assert "— going" in await bot("bea@dm: /me")


async def test_the_private_feed_mydata_and_digest_hold_the_members_events(
    bot: Bot, clock: Clock
) -> None:
    await _event(bot, cap=5)
    await bot(f"{NAME}@dm: /start cork")
    await bot(f"{NAME}: /rsvp E1")
    url = (await bot(f"{NAME}@dm: /mycalendar")).split("\n")[1]
    async with bot.app.router.reader() as session:
        body = await home.member_feed(
            session, bot.app.router.members, url.rsplit("/", 1)[1][:-4], now=clock.now
        )
    assert body is not None
    [event] = Calendar.from_ical(body).walk("VEVENT")
    assert str(event["summary"]) == "Lean workshop"
    data = json.loads((await bot.reply(f"{NAME}@dm: /mydata")).file.data)
    assert [(r["event"], r["status"]) for r in data["events"]["rsvps"]] == [("E1", "going")]
    async with bot.app.sessionmaker() as session, session.begin():
        view = MemberView(session, 2, clock.now, bot.app.catalogs.translator("en"), UTC_ZONE)
        [section] = await events.digest_sections(view)
    assert section.lines == ("Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT",)


async def test_forgetme_frees_the_members_place_for_the_waitlist_and_names_them_nowhere(
    bot: Bot,
) -> None:
    await _event(bot)
    await bot(f"{NAME}: /rsvp E1")
    await bot("bea: /rsvp E1")
    await bot(f"{NAME}@dm: /forgetme yes")
    assert "— going" in await bot("bea@dm: /me")  # promoted to the freed place
    assert "bea" in await bot("/attendees E1")
    assert NAME not in await bot("/attendees E1")
    assert await _personal_values(bot, [NAME]) == []


async def _poll(bot: Bot) -> None:
    await bot('/poll "Lunch on Friday?" "Pizza" "Sushi"')
    await bot("1")  # Send


async def test_me_shows_open_polls_waiting_for_the_members_vote_with_vote_buttons(
    bot: Bot,
) -> None:
    await bot(f"{NAME}@dm: /start cork")
    await _poll(bot)
    mine = await bot(f"{NAME}@dm: /me")
    assert "Polls waiting for your vote\n• Lunch on Friday? (poll #1)" in mine
    assert "[1] Pizza  [2] Sushi" in mine or "[1] Pizza\n[2] Sushi" in mine
    await bot(f"{NAME}@dm: 1")  # votes Pizza
    assert "Polls waiting for your vote" not in await bot(f"{NAME}@dm: /me")


async def test_forgetme_keeps_a_members_votes_in_the_totals_without_them(bot: Bot) -> None:
    await bot(f"{NAME}@dm: /start cork")
    await _poll(bot)
    await bot(f"{NAME}: /vote 1 1")
    await bot("bea: /vote 1 2")
    before = await bot("/results 1")
    data = json.loads((await bot.reply(f"{NAME}@dm: /mydata")).file.data)
    assert [v["choice"] for v in data["polls"]["votes"]] == ["Pizza"]
    await bot(f"{NAME}@dm: /forgetme yes")
    after = await bot("/results 1")
    # The votes stay in the totals (Pizza 1, Sushi 1); the voters counted are those still known.
    assert after.split("\n")[:3] == before.split("\n")[:3]
    assert "1 voter · Votes by platform: Console 2" in after
    assert await _personal_values(bot, [NAME]) == []


async def test_me_shows_desk_bookings_and_forgetme_frees_the_desk(
    bot: Bot, seeded: AsyncEngine
) -> None:
    async with create_sessionmaker(seeded)() as session, session.begin():
        await seed_facilities(session, read_seed_file(SEED_FILE), now=START)
    await bot(f"{NAME}@dm: /start cork")
    booked = await bot(f"{NAME}@dm: /book cork-rubicon 2026-12-03 day")
    assert "B1" in booked, booked
    mine = await bot(f"{NAME}@dm: /me")
    assert "Your desk bookings\n• desk " in mine and "(B1)" in mine
    assert "[1] Cancel B1" in mine
    data = json.loads((await bot.reply(f"{NAME}@dm: /mydata")).file.data)
    assert [b["booking"] for b in data["desks"]["bookings"]] == ["B1"]
    url = (await bot(f"{NAME}@dm: /mycalendar")).split("\n")[1]
    async with bot.app.router.reader() as session:
        body = await home.member_feed(
            session, bot.app.router.members, url.rsplit("/", 1)[1][:-4], now=START
        )
    assert body is not None
    [entry] = Calendar.from_ical(body).walk("VEVENT")
    assert str(entry["summary"]).endswith("(B1)")
    assert entry["dtstart"].dt.hour == 8 and entry["dtend"].dt.hour == 19  # a whole day
    await bot(f"{NAME}@dm: /forgetme yes")
    assert await _personal_values(bot, [NAME]) == []
    async with bot.app.sessionmaker() as session:
        held = await session.scalar(
            select(func.count()).select_from(Base.metadata.tables["booking_slots"])
        )
    assert held == 0  # the desk is free again


async def test_forgetme_keeps_past_answers_and_bookings_as_anonymous_counts(
    bot: Bot, seeded: AsyncEngine, clock: Clock
) -> None:
    async with create_sessionmaker(seeded)() as session, session.begin():
        await seed_facilities(session, read_seed_file(SEED_FILE), now=START)
    await bot(f"{NAME}@dm: /start cork")
    await _event(bot, cap=5)
    await bot(f"{NAME}: /rsvp E1")
    await bot("bea: /rsvp E1")
    await bot(f"{NAME}@dm: /book cork-rubicon/R1 2026-12-03 am")  # B1
    clock.now = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    await bot(f"{NAME}@dm: /checkin B1")
    clock.now = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
    await bot(f"{NAME}@dm: /checkin E1")
    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # both are over
    await bot(f"{NAME}@dm: /forgetme yes")
    assert await _personal_values(bot, [NAME]) == []
    attendees = await bot("/attendees E1")
    # Still two going, one of whom came: the erased member is counted, not named.
    assert "Going (2): 1 checked in." in attendees
    assert "• — ✅" in attendees and "• bea" in attendees
    async with bot.app.sessionmaker() as session:
        kept = await session.scalar(
            select(func.count()).select_from(Base.metadata.tables["bookings"])
        )
        standing_in = await session.scalar(select(Member).where(Member.display_name == "—"))
    assert kept == 1 and standing_in is not None  # the morning at R1 still counts as used
    assert standing_in.locale is None and standing_in.home_council_id is None

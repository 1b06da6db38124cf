"""Hot desks on the console, on SQLite and PostgreSQL: booking by day and half day, refusals
that say why and what is possible instead, quotas, check-in, release and reminders through
the scheduler, time zones, weekly series, booking for someone else, who's in, occupancy."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.models import Booking, BookingSlot, BookingStatus, Desk, Facility, Job
from councilbot.db.session import create_sessionmaker
from councilbot.services.councils import read_seed_file
from councilbot.services.desks import seed_facilities
from tests.conftest import SEED_FILE, START, AppFactory, Bot, Clock

# START is Tue 1 Dec 2026, 09:00 UTC: 09:00 in Cork, 12:00 in Istanbul.


@pytest.fixture
async def desks_seeded(seeded: AsyncEngine) -> AsyncEngine:
    async with create_sessionmaker(seeded)() as session, session.begin():
        await seed_facilities(session, read_seed_file(SEED_FILE), now=START)
    return seeded


@pytest.fixture
async def dbot(desks_seeded: AsyncEngine, bot: Bot) -> Bot:
    return bot


async def rows(bot: Bot, model: type, *where: object) -> list:
    async with bot.app.sessionmaker() as session:
        return list(await session.scalars(select(model).where(*where)))


async def statuses(bot: Bot) -> dict[int, BookingStatus]:
    return {b.id: b.status for b in await rows(bot, Booking)}


async def test_half_days_conflict_with_a_day_and_a_refusal_offers_what_is_free(dbot: Bot) -> None:
    assert await dbot("alice@dm: /book cork-rubicon/R1 tomorrow am") == (
        "✅ Booked B1: desk R1 at MTU Rubicon Centre, Wed 2 Dec 2026, morning.\n"
        "Check in there by Wed 2 Dec, 10:00 GMT (/checkin B1), or the desk is released for "
        "others.\n[1] Cancel B1"
    )
    refused = await dbot("bob@dm: /book cork-rubicon/R1 tomorrow day")
    assert refused.startswith(
        "Desk R1 at MTU Rubicon Centre is already booked for the whole day of Wed 2 Dec 2026.\n"
        "Free instead: Wed 2 Dec 2026, whole day at MTU Rubicon Centre "
        "(/book cork-rubicon 2026-12-02 day)"
    )
    assert "[1] Book Wed 2 Dec 2026, whole day at MTU Rubicon Centre" in refused
    assert (await dbot("bob@dm: 1")).startswith("✅ Booked B2: desk R2 at MTU Rubicon Centre")
    assert "✅ Booked B3: desk R1" in await dbot("dan@dm: /book cork-rubicon/R1 tomorrow pm")
    # A facility books any free desk, preferring the feature asked for.
    assert "desk R5" in await dbot("carol@dm: /book cork-rubicon tomorrow --with monitor")
    async with dbot.app.sessionmaker() as session:
        held = (await session.execute(select(BookingSlot.booking_id, BookingSlot.half))).all()
    assert sorted(held) == [(1, "am"), (2, "am"), (2, "pm"), (3, "pm"), (4, "am"), (4, "pm")]
    assert "You already have desk R1" in await dbot("alice@dm: /book cork-rubicon tomorrow day")
    body, _type = await dbot.app.metrics.exposition(None)
    assert b"councilbot_bookings_total 4.0" in body  # refusals count nothing


async def test_a_hundred_attempts_at_the_last_free_desk_give_one_booking(dbot: Bot) -> None:
    for code in ("R1", "R2", "R3", "R4"):
        assert "✅" in await dbot(f"{code.lower()}@dm: /book cork-rubicon/{code} tomorrow")
    replies = await asyncio.gather(
        *(dbot(f"user{n}@dm: /book cork-rubicon tomorrow") for n in range(100))
    )
    booked = [r for r in replies if r.startswith("✅ Booked")]
    refused = [
        r
        for r in replies
        if r.startswith("Every desk at MTU Rubicon Centre is booked for the whole day of Wed 2 Dec")
    ]
    assert len(booked) == 1 and "desk R5" in booked[0]
    assert len(refused) == 99
    assert all(
        "Free instead: Thu 3 Dec 2026, whole day at MTU Rubicon Centre" in r for r in refused
    )
    async with dbot.app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 5
        assert await session.scalar(select(func.count()).select_from(BookingSlot)) == 10


async def test_the_weekly_limit_holds_under_concurrency(dbot: Bot) -> None:
    attempts = [
        f"/book cork-rubicon {day} {slot}" for day in ("wed", "thu", "fri") for slot in ("am", "pm")
    ]
    replies = await asyncio.gather(*(dbot(f"dana@dm: {line}") for line in attempts))
    assert sum(r.startswith("✅") for r in replies) == 3
    limit = [
        r
        for r in replies
        if "You have 3 bookings at MTU Rubicon Centre in the week of Mon 30 Nov 2026" in r
    ]
    assert len(limit) == 3
    # Next week is a new week; Cork has no other facility to offer.
    assert all("\nFree instead: Mon 7 Dec 2026, " in r for r in limit)
    assert len(await rows(dbot, Booking)) == 3


@pytest.mark.parametrize(
    ("line", "reason", "instead"),
    [
        (
            "/book bologna-tecnopolo 2026-12-08",
            "Bologna Tecnopolo is closed on Tue 8 Dec 2026: it is a holiday there.",
            "Free instead: Wed 9 Dec 2026, whole day at Bologna Tecnopolo",
        ),
        (
            "/book cork-rubicon saturday",
            "MTU Rubicon Centre is closed on Sat 5 Dec 2026: it opens on Mon, Tue, Wed, Thu, Fri.",
            "Free instead: Fri 4 Dec 2026, whole day at MTU Rubicon Centre",
        ),
        (
            "/book cork-rubicon 2026-12-16",
            "MTU Rubicon Centre takes bookings up to 14 days ahead, until Tue 15 Dec 2026.",
            "Free instead: Tue 15 Dec 2026, whole day",
        ),
        (
            "/book cork-rubicon 2026-11-30",
            "Mon 30 Nov 2026 has passed at MTU Rubicon Centre.",
            "Free instead: Tue 1 Dec 2026, whole day",
        ),
        (
            "/book malaga-pta today",  # 10:00 in Málaga: the morning's check-in closed
            "It is too late to book the whole day of Tue 1 Dec 2026: check-in closed at "
            "Tue 1 Dec 2026, 10:00 CET.",
            "Free instead: Tue 1 Dec 2026, afternoon at Andalusia Technology Park",
        ),
    ],
    ids=["holiday", "closed-day", "horizon", "past", "too-late"],
)
async def test_every_rule_refuses_with_the_reason_and_an_alternative(
    dbot: Bot, line: str, reason: str, instead: str
) -> None:
    answer = await dbot(f"erin@dm: {line}")
    assert answer.startswith(reason + "\n" + instead), answer
    assert await rows(dbot, Booking) == []


async def test_a_full_facility_offers_another_of_the_same_council(dbot: Bot) -> None:
    for n in range(4):
        await dbot(f"p{n}@dm: /book sevilla-cartuja tomorrow")
    answer = await dbot("zoe@dm: /book sevilla-cartuja tomorrow")
    assert "Every desk at Cartuja university access point is booked" in answer
    assert "Free instead: Wed 2 Dec 2026, whole day at Andalusia Technology Park" in answer


async def test_check_in_on_the_day_and_release_after_the_deadline(
    dbot: Bot, clock: Clock, console_out: io.StringIO, app_for: AppFactory
) -> None:
    await dbot("alice@dm: /book cork-rubicon/R1 tomorrow am")
    await dbot("bob@dm: /book cork-rubicon/R2 tomorrow am")
    await dbot("carol@dm: /subscribe desks cork")
    assert await dbot("alice@dm: /checkin B1") == (
        "Check-in is on the day itself: booking B1 is for Wed 2 Dec 2026."
    )
    assert await dbot("bob@dm: /checkin B1") == (
        "Booking B1 is someone else's: only they can check in."
    )
    # A restart: a new process rebuilds the jobs from the table and fires each once.
    await dbot.app.aclose()
    restarted = await app_for("console:admin")
    await restarted.scheduler.start()
    dbot.app = restarted
    dbot.console.router = restarted.router
    clock.now = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    assert await dbot("alice@dm: /checkin B1") == (
        "MTU Rubicon Centre is open from 08:00 to 19:00 GMT: check in then."
    )
    clock.now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert await restarted.scheduler.fire_due() == 2  # two reminders
    await restarted.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    assert (
        "[to dm:alice] 🪑 Today: desk R1 at MTU Rubicon Centre, Wed 2 Dec 2026, morning (B1). "
        "Check in by Wed 2 Dec, 10:00 GMT, or the desk goes to someone else.\n"
        "[1] Check in  [2] Cancel"
    ) in printed
    assert "[to dm:bob] 🪑 Today: desk R2" in printed
    assert await dbot("alice@dm: /mybookings") == (
        "Your desk bookings\n"
        "B1 · desk R1 at MTU Rubicon Centre, Wed 2 Dec 2026, morning · booked\n"
        "[1] Cancel B1  [2] Check in B1"
    )
    assert (await dbot("alice@dm: 2")).startswith("✅ Checked in to desk R1")
    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert await dbot("bob@dm: /checkin B2") == (
        "Check-in for B2 closed at Wed 2 Dec 2026, 10:00 GMT, so the desk is being released. "
        "/desks cork-rubicon shows what is free now."
    )
    assert await restarted.scheduler.fire_due() == 1  # bob's release; alice's was cancelled
    assert await restarted.scheduler.fire_due() == 0  # fires once
    await restarted.dispatcher.run_until_idle()
    assert await statuses(dbot) == {1: BookingStatus.CHECKED_IN, 2: BookingStatus.RELEASED}
    assert (
        "[to dm:bob] Nobody checked in to desk R2 at MTU Rubicon Centre, Wed 2 Dec 2026, "
        "morning (B2) by the deadline, so the desk was released"
    ) in console_out.getvalue()
    assert "book again while it is free.\n[1] Book the afternoon" in console_out.getvalue()
    assert (
        "[to dm:carol] 🪑 Desk R2 at MTU Rubicon Centre is free again this afternoon "
        "(Wed 2 Dec 2026).\n[1] Book R2 (afternoon)"
    ) in console_out.getvalue()
    assert "Booking B2 was released at Wed 2 Dec 2026, 10:00 GMT" in await dbot(
        "bob@dm: /checkin B2"
    )
    # The desk is offered again: someone else books it.
    assert "✅ Booked B3: desk R2" in await dbot("carol@dm: /book cork-rubicon/R2 today pm")


async def test_dates_are_the_facility_s_own(dbot: Bot, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # Tue in Cork, Wed 01:30 in Istanbul
    answer = await dbot("/book istanbul-teknopark tomorrow am")
    assert answer.startswith(
        "✅ Booked B1: desk K1 at Teknopark Istanbul coworking floor, Thu 3 Dec 2026, morning.\n"
        "Check in there by Thu 3 Dec, 10:00 UTC+03"
    )
    [booking] = await rows(dbot, Booking)
    assert str(booking.day) == "2026-12-03"
    listing = await dbot("/desks istanbul-teknopark")
    assert "Teknopark Istanbul coworking floor, Wed 2 Dec 2026:" in listing
    assert "check in by 10:00 UTC+03 (morning, whole day) or 14:00 UTC+03" in listing
    async with dbot.app.sessionmaker() as session:
        jobs = {j.kind: j.due_at for j in await session.scalars(select(Job))}
    assert jobs["desks.remind"] == datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # 08:00 in Istanbul
    assert jobs["desks.release"] == datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


async def test_weekly_series_reports_each_date(dbot: Bot) -> None:
    answer = await dbot("/book bologna-tecnopolo wednesday --weekly 3")
    assert answer.splitlines()[1:4] == [
        "✓ Wed 2 Dec 2026: desk T1 (B1)",
        "✓ Wed 9 Dec 2026: desk T1 (B2)",
        "✗ Wed 16 Dec 2026: Bologna Tecnopolo takes bookings up to 14 days ahead, until "
        "Tue 15 Dec 2026.",
    ]
    await dbot("/book bologna-tecnopolo thursday")
    assert await dbot("/cancelbooking B1 --series") == (
        "Cancel these 2 bookings of the series?\n"
        "• B1: desk T1 at Bologna Tecnopolo, Wed 2 Dec 2026, whole day\n"
        "• B2: desk T1 at Bologna Tecnopolo, Wed 9 Dec 2026, whole day\n"
        "[1] Cancel 2 bookings  [2] Keep them"
    )
    assert "B1 · desk T1" in await dbot("2")  # kept: /mybookings
    assert await statuses(dbot) == {
        1: BookingStatus.BOOKED,
        2: BookingStatus.BOOKED,
        3: BookingStatus.BOOKED,
    }
    await dbot("/cancelbooking B1 --series")
    assert await dbot("1") == (
        "Cancelled 2 bookings of the series:\n"
        "• B1: desk T1 at Bologna Tecnopolo, Wed 2 Dec 2026, whole day\n"
        "• B2: desk T1 at Bologna Tecnopolo, Wed 9 Dec 2026, whole day"
    )
    await dbot("/book bologna-tecnopolo friday")
    assert (await dbot("/cancelbooking --from 2026-12-01 --to 2026-12-31")).startswith(
        "Cancel these 2 bookings from Tue 1 Dec 2026 to Thu 31 Dec 2026?\n"
    )
    assert len(await rows(dbot, BookingSlot)) == 4  # nothing cancelled yet
    assert await dbot("/cancelbooking --from 2026-12-01 --to 2026-12-31 --yes") == (
        "Cancelled 2 bookings from Tue 1 Dec 2026 to Thu 31 Dec 2026:\n"
        "• B3: desk T1 at Bologna Tecnopolo, Thu 3 Dec 2026, whole day\n"
        "• B4: desk T1 at Bologna Tecnopolo, Fri 4 Dec 2026, whole day"
    )
    assert await rows(dbot, BookingSlot) == []


async def test_coordinators_book_for_someone_who_is_told_and_may_cancel(
    dbot: Bot, console_out: io.StringIO
) -> None:
    await dbot("bob@dm: /start")
    assert "Only coordinators of Southern Ireland council (MTU)" in await dbot(
        "mallory@dm: /book cork-rubicon tomorrow --for bob"
    )
    await dbot("/coordinator add carol cork") if False else None
    answer = await dbot("/book cork-rubicon tomorrow --for bob")
    assert answer.startswith(
        "✅ Booked B1 for bob: desk R1 at MTU Rubicon Centre, Wed 2 Dec 2026, whole day. I told "
        "them; it counts in their weekly limit."
    )
    await dbot.app.dispatcher.run_until_idle()
    assert "[to dm:bob] 🪑 admin booked desk R1 at MTU Rubicon Centre" in console_out.getvalue()
    for day in ("thu", "fri"):
        await dbot(f"bob@dm: /book cork-rubicon {day}")
    assert "You have 3 bookings at MTU Rubicon Centre" in await dbot(
        "bob@dm: /book cork-rubicon today am"
    )
    assert "B1 · desk R1" in await dbot("bob@dm: /mybookings")
    assert (await dbot("bob@dm: /cancelbooking B1")).startswith("Cancelled B1")
    assert "• R1 (window): bob, whole day (B2)\n" in await dbot("/desks cork-rubicon thu")
    assert "bob" not in await dbot("mallory@dm: /desks cork-rubicon thu")
    assert "is not yours to cancel" in await dbot("mallory@dm: /cancelbooking B2")


async def test_whosin_lists_only_those_who_chose_to_be_visible(dbot: Bot) -> None:
    await dbot("alice@dm: /book cork-rubicon tomorrow")
    await dbot("bob@dm: /book cork-rubicon tomorrow am")
    assert await dbot("alice@dm: /visibility on Acme Robotics") == (
        "/whosin now lists you, as alice of Acme Robotics, wherever you book."
    )
    assert await dbot("carol@dm: /whosin cork-rubicon tomorrow") == (
        "Who's in at MTU Rubicon Centre, Wed 2 Dec 2026:\n"
        "• alice, Acme Robotics (desk R1, whole day)\n"
        "1 more person booked there keeps to themselves.\n"
        "/visibility on lists you too when you book."
    )
    await dbot("alice@dm: /visibility off")
    assert "alice" not in await dbot("carol@dm: /whosin cork-rubicon tomorrow")


async def test_occupancy_as_text_chart_and_csv_for_coordinators(dbot: Bot) -> None:
    await dbot("alice@dm: /book cork-rubicon tomorrow")
    await dbot("bob@dm: /book cork-rubicon tomorrow pm")
    reply = await dbot.reply("/occupancy cork-rubicon")
    assert "Wed 2 Dec 2026: morning 1/5 · afternoon 2/5 · checked in 0 · released 0" in reply.text
    assert reply.file is not None and reply.file.data.startswith(b"\x89PNG")
    csv_reply = await dbot.reply("/occupancy cork-rubicon tomorrow csv")
    assert csv_reply.file is not None
    assert b"cork-rubicon,2026-12-02,5,1,2,0,0" in csv_reply.file.data
    assert (
        await dbot("alice@dm: /occupancy cork-rubicon") == "Only coordinators can use /occupancy."
    )


async def test_seeding_twice_changes_nothing_and_a_removed_desk_is_retired(
    dbot: Bot, tmp_path
) -> None:
    await dbot("alice@dm: /book cork-rubicon/R5 tomorrow")
    seed = read_seed_file(SEED_FILE)
    async with dbot.app.sessionmaker() as session, session.begin():
        again = await seed_facilities(session, seed, now=START)
    assert (again.facilities, again.desks_added, again.desks_retired) == (0, 0, 0)
    cork = next(c for c in seed.councils if c.slug == "cork")
    cork.facilities[0].desks = [d for d in cork.facilities[0].desks if d.code != "R5"]
    async with dbot.app.sessionmaker() as session, session.begin():
        report = await seed_facilities(session, seed, now=START)
    assert report.desks_retired == 1
    assert "R5" not in await dbot("/desks cork-rubicon tomorrow")
    [booking] = await rows(dbot, Booking)
    assert booking.desk.code == "R5" and booking.status is BookingStatus.BOOKED  # history kept
    assert len(await rows(dbot, Desk)) == 55 and len(await rows(dbot, Facility)) == 8


async def test_the_weekly_summary_goes_to_subscribers_on_monday_morning(
    dbot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    assert "desks" in await dbot("alice@dm: /subscribe desks cork")
    await dbot("bob@dm: /book cork-rubicon tomorrow")
    clock.now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    await dbot("bob@dm: /checkin B1")
    clock.now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 08:00 in Cork
    await dbot.app.scheduler.fire_due()
    await dbot.app.dispatcher.run_until_idle()
    assert (
        "[to dm:alice] 📊 Desks at Southern Ireland council (MTU), week of Mon 30 Nov 2026\n"
        "MTU Rubicon Centre: 2 of 50 half-days booked (4%), 0 released"
    ) in console_out.getvalue()
    assert "[to cork-chat] 📊" not in console_out.getvalue()  # subscribers only
    async with dbot.app.sessionmaker() as session:
        job = await session.scalar(select(Job).where(Job.name == "desks.weekly:cork"))
    assert job is not None and job.due_at == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)


async def test_checkin_takes_b_ids_and_help_lists_the_desk_commands(dbot: Bot) -> None:
    # /checkin is the events feature's: it sends B-ids here and reads the rest as events.
    assert await dbot("/checkin E12") == "There is no event E12."
    assert await dbot("/checkin B99") == "There is no booking B99. /mybookings lists yours."
    assert "/occupancy" in await dbot("/help") and "/whosin" in await dbot("/help")


async def test_merging_two_accounts_keeps_one_desk_profile_and_the_bookings(dbot: Bot) -> None:
    from councilbot.db.models import DeskProfile, Identity, Member
    from councilbot.services.members import merge_members

    await dbot("alice@dm: /visibility on Acme Robotics")
    await dbot("alice2@dm: /visibility on Old Name")
    await dbot("alice2@dm: /book cork-rubicon tomorrow")
    async with dbot.app.sessionmaker() as session, session.begin():
        ids = dict(
            (await session.execute(select(Identity.user_id, Identity.member_id))).tuples().all()
        )
        keep, drop = (
            await session.get(Member, ids["alice"]),
            await session.get(Member, ids["alice2"]),
        )
        await merge_members(session, keep=keep, drop=drop)
    [profile] = await rows(dbot, DeskProfile)
    assert (profile.member_id, profile.organisation) == (ids["alice"], "Acme Robotics")
    assert "B1 · desk R1" in await dbot("alice@dm: /mybookings")


async def test_names_are_forgiving_and_a_coordinator_s_cancel_is_told(
    dbot: Bot, console_out: io.StringIO
) -> None:
    assert await dbot("/desks cork-rubicn") == (
        "There is no facility “cork-rubicn”. Did you mean cork-rubicon?"
    )
    assert await dbot("/book malaga tomorrow") == (
        "Andalusian council (Smart City cluster) has several facilities: malaga-pta, "
        "sevilla-cartuja. Name one."
    )
    assert "desk K3 at Teknopark" in await dbot("bob@dm: /book K3 tomorrow")  # a unique code
    assert "desk A1 at Andalusia Technology Park" in await dbot("carl@dm: /book A1 tomorrow")
    assert await dbot("/cancelbooking B1") == (
        "Cancelled B1: desk K3 at Teknopark Istanbul coworking floor, Wed 2 Dec 2026, whole day. "
        "The desk is free for others."
    )
    await dbot.app.dispatcher.run_until_idle()
    assert "[to dm:bob] admin cancelled your booking B1: desk K3" in console_out.getvalue()


async def test_a_plain_number_checks_in_whichever_of_the_members_it_names(
    dbot: Bot, clock: Clock
) -> None:
    await dbot("alice@dm: /book cork-rubicon/R1 tomorrow am")
    await dbot('/newevent "Lean clinic" tomorrow 09:00-10:00 --yes')  # Málaga's, E1
    clock.now = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)
    # alice booked B1 and is not going to E1: 1 is her booking.
    assert (await dbot("alice@dm: /checkin 1")).startswith("✅ Checked in to desk R1")
    await dbot("bob@dm: /book cork-rubicon/R2 2026-12-02 am")  # B2, today
    await dbot('/newevent "Lean walk" 2026-12-02 09:00-10:00 --yes')  # E2
    await dbot("bob@dm: /rsvp E2")
    assert await dbot("bob@dm: /checkin 2") == (
        "You are going to event E2 and you booked desk B2: which one?\n[1] E2  [2] B2"
    )
    assert (await dbot("bob@dm: 2")).startswith("✅ Checked in to desk R2")


# Trial findings (issue 12 follow-up) --------------------------------------------------------


async def test_alternatives_are_ones_the_member_can_book(dbot: Bot) -> None:
    for day in ("2026-12-01", "2026-12-02", "2026-12-03"):
        assert "✅" in await dbot(f"al@dm: /book cork-rubicon {day}")
    # Fri 4 Dec is nearest to Saturday, but al is at the weekly limit that week.
    answer = await dbot("al@dm: /book cork-rubicon saturday")
    assert answer.startswith(
        "MTU Rubicon Centre is closed on Sat 5 Dec 2026: it opens on Mon, Tue, Wed, Thu, Fri.\n"
        "Free instead: Mon 7 Dec 2026, whole day at MTU Rubicon Centre"
    ), answer
    assert (await dbot("al@dm: 1")).startswith("✅ Booked B4: desk R1 at MTU Rubicon Centre, Mon 7")
    # bo holds Fri 4 Dec: it is not offered to bo either.
    await dbot("bo@dm: /book cork-rubicon 2026-12-04")
    assert "Free instead: Mon 7 Dec 2026, whole day" in await dbot(
        "bo@dm: /book cork-rubicon saturday"
    )
    # Another member is still offered Fri 4 Dec.
    assert "Free instead: Fri 4 Dec 2026, whole day" in await dbot(
        "cy@dm: /book cork-rubicon saturday"
    )


async def test_booking_for_someone_names_them_and_the_buttons_keep_for(dbot: Bot) -> None:
    for day in ("wed", "thu", "fri"):
        assert "✅" in await dbot(f"ann@dm: /book cork-rubicon {day}")
    answer = await dbot("/book cork-rubicon today --for ann")
    assert answer.startswith(
        "ann has 3 bookings at MTU Rubicon Centre in the week of Mon 30 Nov 2026, its weekly "
        "limit.\nFree instead: Mon 7 Dec 2026, whole day at MTU Rubicon Centre "
        "(/book cork-rubicon 2026-12-07 day --for ann)"
    ), answer
    assert (await dbot("1")).startswith(
        "✅ Booked B4 for ann: desk R1 at MTU Rubicon Centre, Mon 7"
    )
    assert "ann already has desk R1 at MTU Rubicon Centre then (B2)" in await dbot(
        "/book cork-rubicon/R2 thu am --for ann"
    )
    [booking] = await rows(dbot, Booking, Booking.id == 4)
    assert booking.booked_by_id is not None and booking.member_id != booking.booked_by_id


async def test_booking_for_oneself_is_a_plain_booking(dbot: Bot, console_out: io.StringIO) -> None:
    assert await dbot("alice@dm: /book cork-rubicon tomorrow --for alice") == (
        "✅ Booked B1: desk R1 at MTU Rubicon Centre, Wed 2 Dec 2026, whole day.\n"
        "Check in there by Wed 2 Dec, 10:00 GMT (/checkin B1), or the desk is released for "
        "others.\n[1] Cancel B1"
    )
    assert (await dbot("/book cork-rubicon tomorrow --for admin")).startswith(
        "✅ Booked B2: desk R2 at MTU Rubicon Centre, Wed 2 Dec 2026, whole day.\n"
    )
    await dbot.app.dispatcher.run_until_idle()
    assert "booked desk" not in console_out.getvalue()
    assert "Only coordinators" in await dbot("alice@dm: /book cork-rubicon thu --for bob")
    [mine] = await rows(dbot, Booking, Booking.id == 2)
    assert mine.booked_by_id is None


async def test_desks_on_a_day_that_cannot_be_booked_shows_no_free_desk(
    dbot: Bot, clock: Clock
) -> None:
    assert await dbot("/desks cork-rubicon saturday") == (
        "MTU Rubicon Centre, Sat 5 Dec 2026:\n"
        "MTU Rubicon Centre is closed on Sat 5 Dec 2026: it opens on Mon, Tue, Wed, Thu, Fri.\n"
        "Nearest open day: Mon 7 Dec 2026.\n"
        "Open Mon, Tue, Wed, Thu, Fri, 08:00–19:00 GMT; check in by 10:00 GMT (morning, whole "
        "day) or 14:00 GMT (afternoon).\n"
        "[1] Desks on Mon 7 Dec 2026"
    )
    assert (await dbot("1")).startswith("MTU Rubicon Centre, Mon 7 Dec 2026:\n• R1 (window): free")
    christmas = await dbot("/desks cork-rubicon 2026-12-25")
    assert christmas.splitlines()[1:4] == [
        "MTU Rubicon Centre is closed on Fri 25 Dec 2026: it is a holiday there.",
        "MTU Rubicon Centre takes bookings up to 14 days ahead, until Tue 15 Dec 2026.",
        "Nearest open day: Tue 15 Dec 2026.",
    ]
    assert "free" not in christmas and "free" not in await dbot("/desks cork-rubicon 2026-11-30")
    # Today in Istanbul is past the morning's deadline: only afternoons are offered.
    assert "• K1 (monitor): free in the afternoon" in await dbot("/desks istanbul-teknopark")
    # On a Saturday, /facilities opens Cork's desks on Monday (Istanbul's are open today).
    clock.now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    listing = await dbot("/facilities")
    assert "/desks <facility> [date] shows what is free" in listing
    assert (await dbot("3")).startswith("MTU Rubicon Centre, Mon 7 Dec 2026:\n")
    await dbot("/facilities")
    assert (await dbot("4")).startswith("Teknopark Istanbul coworking floor, Sat 5 Dec 2026:\n")


async def test_the_coordinator_view_of_desks_reads_cleanly(dbot: Bot, clock: Clock) -> None:
    await dbot("a1@dm: /book cork-rubicon/R1 tomorrow")
    await dbot("a2@dm: /book cork-rubicon/R2 tomorrow am")
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    await dbot("a1@dm: /checkin B1")
    assert await dbot("a1@dm: /checkin B1") == (
        "You already checked in to B1 (desk R1) at 09:00 GMT."
    )
    listing = await dbot("/desks cork-rubicon")
    assert listing.splitlines()[1:3] == [
        "• R1 (window): a1, whole day (B1, checked in)",
        "• R2: free in the afternoon · a2, morning (B2)",
    ]


async def test_wording_of_visibility_weekly_and_features(dbot: Bot) -> None:
    assert await dbot("alice@dm: /visibility") == (
        "/whosin does not list you now. Say /visibility on or /visibility off (with your "
        "organisation: /visibility on <organisation>).\n[1] Show me"
    )
    assert (await dbot("alice@dm: 1")).startswith("/whosin now lists you, as alice")
    assert (await dbot("alice@dm: /visibility")).endswith("[1] Hide me")
    assert (await dbot("/book cork-rubicon monday --weekly 13")).startswith(
        "--weekly takes 1 to 12 weeks, e.g. /book cork-rubicon monday --weekly 4.\nUsage: /book"
    )
    assert "/cancelbooking B1 --series cancels a booking and the rest of its series." in (
        await dbot("/book cork-rubicon monday --weekly 2")
    )
    assert "No desk at MTU Rubicon Centre has printer; its desks have: monitor, window." in (
        await dbot("bob@dm: /book cork-rubicon 2026-12-03 --with printer")
    )
    # A desk named without the feature, another free with it: which one?
    assert await dbot("carol@dm: /book cork-rubicon/R5 2026-12-02 --with window") == (
        "Desk R5 has no window; R1 has and is free then. Which one?\n[1] Book R1  [2] Book R5"
    )
    assert (await dbot("carol@dm: 1")).startswith("✅ Booked B4: desk R1")
    assert "Desk R3 has no window, and no free desk there has." in await dbot(
        "dan@dm: /book cork-rubicon/R3 2026-12-02 --with window"
    )


async def test_whosin_leaves_out_a_missing_organisation_and_the_hint_for_the_visible(
    dbot: Bot,
) -> None:
    await dbot("a2@dm: /visibility on")
    await dbot("a2@dm: /book cork-rubicon/R2 tomorrow")
    assert await dbot("a2@dm: /whosin cork-rubicon tomorrow") == (
        "Who's in at MTU Rubicon Centre, Wed 2 Dec 2026:\n• a2 (desk R2, whole day)"
    )
    assert (await dbot("b3@dm: /whosin cork-rubicon tomorrow")).endswith(
        "\n/visibility on lists you too when you book."
    )


async def test_bulk_cancellation_asks_first_and_a_single_one_does_not(dbot: Bot) -> None:
    for day in ("2026-12-02", "2026-12-03"):
        await dbot(f"al@dm: /book cork-rubicon {day}")
    assert await dbot("al@dm: /cancelbooking --from 2026-12-01 --to 2026-12-31") == (
        "Cancel these 2 bookings from Tue 1 Dec 2026 to Thu 31 Dec 2026?\n"
        "• B1: desk R1 at MTU Rubicon Centre, Wed 2 Dec 2026, whole day\n"
        "• B2: desk R1 at MTU Rubicon Centre, Thu 3 Dec 2026, whole day\n"
        "[1] Cancel 2 bookings  [2] Keep them"
    )
    assert len(await rows(dbot, BookingSlot)) == 4
    assert (await dbot("al@dm: 1")).startswith("Cancelled 2 bookings from Tue 1 Dec 2026")
    assert await rows(dbot, BookingSlot) == []
    await dbot("al@dm: /book cork-rubicon 2026-12-04")
    assert (await dbot("al@dm: /cancelbooking --from 2026-12-01 --to 2026-12-31")).startswith(
        "Cancelled 1 booking from Tue 1 Dec 2026"
    )


async def test_occupancy_names_holidays_and_help_explains_checkin_and_the_topic(
    dbot: Bot,
) -> None:
    week = (await dbot.reply("/occupancy cork-rubicon 2026-12-25 csv")).text.splitlines()
    assert week[1:6] == [
        "Mon 21 Dec 2026: morning 0/5 · afternoon 0/5 · checked in 0 · released 0",
        "Tue 22 Dec 2026: morning 0/5 · afternoon 0/5 · checked in 0 · released 0",
        "Wed 23 Dec 2026: morning 0/5 · afternoon 0/5 · checked in 0 · released 0",
        "Thu 24 Dec 2026: morning 0/5 · afternoon 0/5 · checked in 0 · released 0",
        "Fri 25 Dec 2026: holiday",
    ]
    assert await dbot("/help checkin") == (
        "/checkin <id>\n"
        "Check in at an event on its day (E12); B34 names a desk booking.\n"
        "E12 is an event, B34 a desk booking; a plain number (12) checks in whichever of yours "
        "it names, and asks which when it could be both."
    )
    help_occupancy = await dbot("/help occupancy")
    assert "sends each Monday one line per facility on the week before's use" in help_occupancy


async def test_translations_read_naturally(dbot: Bot) -> None:
    await dbot("fr1@dm: /lang fr")
    closed = await dbot("fr1@dm: /book cork-rubicon saturday")
    assert "jours d’ouverture lun., mar., mer., jeu., ven.\n" in closed, closed
    await dbot("es1@dm: /lang es")
    assert "con hasta 14 días de antelación" in await dbot("es1@dm: /book cork-rubicon 2026-12-16")
    assert "/desks &lt;espacio&gt; [fecha] muestra" not in await dbot("es1@dm: /facilities")
    assert "/desks <espacio> [fecha] muestra lo que está libre" in await dbot("es1@dm: /facilities")
    await dbot("it1@dm: /lang it")
    assert "fino a 14 giorni in anticipo" in await dbot("it1@dm: /book cork-rubicon 2026-12-16")
    await dbot("tr1@dm: /lang tr")
    assert "(evry-genopole), bilim parkı, Paris / Évry ·" in await dbot("tr1@dm: /facilities")

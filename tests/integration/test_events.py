"""Events on the console: /newevent's preview and Send, /events, /event, /rsvp and /unrsvp with
the waitlist, guests, approval, series, reminders, edits, cancellation, /attendees, /checkin and
/ical. On the console the buttons are numbered: typing the number presses one."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import select

from councilbot.app import build_app
from councilbot.db.models import Event, EventStatus, Job, JobState, Rsvp, RsvpStatus
from councilbot.services import events
from councilbot.services.calendar import ics
from tests.conftest import CORK_TEXT, START, Bot, Clock

CREATE = '/newevent "Lean workshop" 2026-12-03 18:00-20:00 @ "MTU Room 2" cap 2'
POST = (
    f"📅 Lean workshop (E1) — {CORK_TEXT}\n"
    "Thu 3 Dec 2026, 18:00–20:00 GMT\n"
    "📍 MTU Room 2\n"
    "{places}\n"
    "[1] Going  [2] Not going  [3] Add to calendar"
)


async def created(bot: Bot, line: str = CREATE) -> None:
    await bot(line)
    await bot("1")  # Send


async def rows(bot: Bot, event_id: int = 1) -> list[tuple[str, RsvpStatus, int, int]]:
    async with bot.app.sessionmaker() as session:
        found = await session.scalars(
            select(Rsvp).where(Rsvp.event_id == event_id).order_by(Rsvp.turn)
        )
        return [(r.member.display_name, r.status, r.guests, r.turn) for r in found]


async def test_preview_then_send_posts_it_with_buttons_and_the_count_stays_current(
    bot: Bot, console_out: io.StringIO, clock: Clock
) -> None:
    await bot("bob@dm: /subscribe events cork")
    assert await bot(CREATE) == (
        f"📅 Lean workshop (E1) — {CORK_TEXT}\n"
        "Thu 3 Dec 2026, 18:00–20:00 GMT\n"
        "📍 MTU Room 2\n"
        "0 going, 2 places left\n\n"
        "Preview of event E1: it goes to 1 chat and 1 subscriber in Cork, now. Nothing is sent "
        "until you press Send.\n"
        "[1] Send  [2] Edit  [3] Cancel"
    )
    await bot.app.dispatcher.run_until_idle()
    assert console_out.getvalue() == ""  # nothing goes out before Send
    assert await bot("carol: /event E1") == "There is no event E1."  # a draft is its author's
    assert await bot("1") == (
        "E1 is posted to 1 chat and 1 subscriber. /attendees E1 shows who is coming."
    )
    assert await bot("/newevent send 1") == "E1 was already sent. /event E1 shows it."
    await bot.app.dispatcher.run_until_idle()
    assert (
        f"[to cork-chat] {POST.format(places='0 going, 2 places left')}" in console_out.getvalue()
    )
    assert "[to dm:bob] 📅 Lean workshop (E1)" in console_out.getvalue()
    assert await bot("/events") == (
        f"Upcoming events — {CORK_TEXT}\n"
        "E1 · Thu 3 Dec, 18:00–20:00 GMT · Lean workshop · 0 going, 2 places left\n"
        "/event E1 shows one, with its buttons."
    )
    # Pressing Going under /event answers as the one who pressed it.
    assert "You have not answered yet." in await bot("alice: /event E1")
    assert await bot("alice: 1") == (
        "You are going to Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT. /unrsvp E1 if you "
        "can't come."
    )
    assert "You are going." in await bot("alice: /event 1")
    assert await bot("alice: /rsvp e1") == (
        "Already noted. You are going to Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT. "
        "/unrsvp E1 if you can't come."
    )
    clock.advance(minutes=1)  # past the live count's throttle: the post is edited
    await bot.app.dispatcher.run_until_idle()
    assert "[edited in cork-chat, message 1] 📅 Lean workshop (E1)" in console_out.getvalue()
    assert "1 going, 1 place left" in console_out.getvalue()


async def test_a_full_event_waitlists_in_order_and_promotes_by_direct_message(
    bot: Bot, console_out: io.StringIO
) -> None:
    await created(bot)
    await bot("alice: /rsvp E1 +1")
    assert await bot("bob: /rsvp E1 +1") == (
        "There is no place left for you at Lean workshop (E1): you are number 1 on the "
        "waitlist. I will tell you if a place opens up. /unrsvp E1 if you can't come."
    )
    assert "number 2 on the waitlist" in await bot("carol: /rsvp E1")
    assert "You are number 2 on the waitlist." in await bot("carol: /event E1")
    assert (await bot("dave: /rsvp E1 +2")).startswith(
        "E1 allows at most 1 guest per member.\nUsage: /rsvp <event> [+<n>]"
    )
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:admin] Lean workshop (E1) is full: all 2 places are taken." in (
        console_out.getvalue()
    )
    console_out.truncate(0)
    assert await bot("alice: /unrsvp E1") == (
        "You are no longer going to E1. /rsvp E1 if you change your mind."
    )
    # bob and his guest take both places; carol still waits, now first.
    assert await rows(bot) == [
        ("alice", RsvpStatus.LEFT, 0, 1),
        ("bob", RsvpStatus.GOING, 1, 2),
        ("carol", RsvpStatus.WAITING, 0, 3),
    ]
    assert "You are number 1 on the waitlist." in await bot("carol: /event E1")
    await bot.app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    assert (
        "[to dm:bob] Good news: a place opened up and you are now going to Lean workshop (E1), "
        "Thu 3 Dec, 18:00–20:00 GMT."
    ) in out
    assert "[to dm:admin] The waitlist of Lean workshop (E1) moved: bob got a place; 1 still" in out
    # The host leaves: his guest goes with him, and carol gets a place.
    await bot("bob: /unrsvp E1")
    assert [r[1] for r in await rows(bot)] == [RsvpStatus.LEFT, RsvpStatus.LEFT, RsvpStatus.GOING]
    async with bot.app.sessionmaker() as session:
        event = await session.get(Event, 1)
        assert event is not None and event.taken == 1


async def test_an_istanbul_event_shows_istanbul_time_to_a_cork_member(bot: Bot) -> None:
    await bot("admin@ist-chat: /link istanbul")
    await bot('admin@ist-chat: /newevent "Finance access day" 2026-12-10 10:00-12:00 --to all')
    await bot("admin@ist-chat: 1")
    shown = await bot("bob: /event E1")
    assert "Thu 10 Dec, 10:00–12:00 UTC+03" in shown
    assert "— all councils" in shown
    assert "E1 · Thu 10 Dec, 10:00–12:00 UTC+03 · Finance access day" in await bot("/events")
    assert "E1 ·" in await bot("/events all")
    await bot('/newevent "Cork only" 2026-12-11 10:00-12:00 --yes')
    malaga = await bot("/events malaga")
    assert "E1 · " in malaga and "Cork only" not in malaga  # every council's, not Cork's
    assert "E2 · Fri 11 Dec, 10:00–12:00 GMT · Cork only" in await bot("/events")
    assert (await bot("/events cork --page 3")).endswith(
        "E2 · Fri 11 Dec, 10:00–12:00 GMT · Cork only · 0 going\n"
        "/event E1 shows one, with its buttons."
    )  # past the last page: the last one
    async with bot.app.sessionmaker() as session:
        event = await session.get(Event, 1)
        assert event is not None
        assert event.start_at == datetime(2026, 12, 10, 7, 0, tzinfo=UTC)  # stored UTC


async def test_reminders_fire_once_across_a_restart_and_follow_an_edit(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await created(bot)
    await bot("alice: /rsvp E1")
    assert await bot('/editevent E1 19:00-21:00 @ "MTU Hall"') == (
        "E1 is changed: time: Thu 3 Dec, 18:00–20:00 GMT → Thu 3 Dec, 19:00–21:00 GMT; "
        "venue: MTU Room 2 → MTU Hall. Those going and waiting are told, with the updated "
        "calendar file."
    )
    await bot.app.dispatcher.run_until_idle()
    assert (
        "[to dm:alice] Lean workshop (E1) has changed:\n🕒 Thu 3 Dec, 19:00–21:00 GMT\n"
        "📍 MTU Hall\nThe calendar file updates your calendar."
    ) in console_out.getvalue()
    assert "(file: E1.ics," in console_out.getvalue()
    await bot.app.aclose()  # the process stops...
    restarted = await build_app(
        bot.app.settings,
        engine=bot.app.engine,
        catalogs=bot.app.catalogs,
        clock=clock,
        targets=bot.app.targets,
    )
    try:
        await restarted.scheduler.start()
        clock.now = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)  # 24 hours before the new time
        assert await restarted.scheduler.fire_due() == 1
        assert await restarted.scheduler.fire_due() == 0  # once
        clock.now = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # 1 hour before
        assert await restarted.scheduler.fire_due() == 1
        await restarted.dispatcher.run_until_idle()
    finally:
        await restarted.aclose()
    out = console_out.getvalue()
    assert out.count("[to dm:alice] ⏰ Reminder: Lean workshop (E1) starts") == 2
    # On the day, the post in the chat offers Check in too.
    edits = [m for m in out.split("\n\n") if m.startswith("[edited in cork-chat, message 1]")]
    assert edits[-1].endswith("[1] Going  [2] Not going  [3] Add to calendar  [4] Check in")
    # The hour-before reminder, on the day, offers Check in.
    assert "[1] Going  [2] Not going  [3] Add to calendar  [4] Check in" in out


async def test_cancelling_tells_those_going_and_waiting_and_cancels_the_reminders(
    bot: Bot, console_out: io.StringIO
) -> None:
    await created(bot, CREATE.replace("cap 2", "cap 1"))
    await bot("alice: /rsvp E1")
    await bot("bob: /rsvp E1")
    assert await bot("bob: /cancelevent E1") == "Only coordinators can use /cancelevent."
    assert await bot("/cancelevent E1") == (
        "Cancel Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT? 1 going and 1 waiting will be "
        "told.\n[1] Cancel event  [2] Keep"
    )
    assert await bot("1") == ("E1 is cancelled; everyone going or waiting is told.")
    await bot.app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    for who in ("alice", "bob"):
        assert f"[to dm:{who}] Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT, is cancelled." in out
    assert "Cancelled." in out  # the post is edited
    assert await bot("carol: /rsvp E1") == "E1 was cancelled."
    async with bot.app.sessionmaker() as session:
        states = set(await session.scalars(select(Job.state).where(Job.name.like("event:1:%"))))
    assert states == {JobState.CANCELLED}


async def test_attendees_csv_checkin_and_the_feedback_job(bot: Bot, clock: Clock) -> None:
    await created(bot)
    await bot("alice: /rsvp E1 +1")
    await bot("bob: /rsvp E1")
    assert await bot("alice: /checkin E1") == (
        "Check-in for E1 opens on the day of the event, from Thu 3 Dec, 00:00 GMT; it starts "
        "at 18:00."
    )
    # B-ids are desk bookings: /checkin hands them to the desks feature.
    assert await bot("alice: /checkin B34") == "There is no booking B34. /mybookings lists yours."
    clock.now = datetime(2026, 12, 3, 17, 30, tzinfo=UTC)
    assert "[4] Check in" in await bot("alice: /event E1")
    assert await bot("alice: /checkin E1") == "Welcome! You are checked in at Lean workshop (E1)."
    assert await bot("alice: /checkin E1") == "You had already checked in at E1."
    assert await bot("bob: /checkin E1") == (
        "You are not on the list of those going to E1: /rsvp E1 first."
    )
    assert await bot("/attendees E1") == (
        "Lean workshop (E1) — Thu 3 Dec, 18:00–20:00 GMT\n"
        "Going (2): 1 member + 1 guest, 1 checked in.\n"
        "• alice (+1 guest) ✅\n"
        "Waitlist (1):\n"
        "1. bob"
    )
    reply = await bot.reply("/attendees E1 csv")
    assert reply.file is not None and reply.file.filename == "E1-attendees.csv"
    lines = reply.file.data.decode().splitlines()
    assert lines[0] == "event,name,status,guests,waitlist,checked_in_at"
    assert lines[1].startswith("E1,alice,going,1,,2026-12-03T17:30:00")
    assert lines[2] == "E1,bob,waiting,0,1,"
    assert await bot("bob: /attendees E1") == "Only coordinators can use /attendees."
    clock.now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert await bot.app.scheduler.fire_due() >= 1
    async with bot.app.sessionmaker() as session:
        event = await session.get(Event, 1)
        assert event is not None and event.status is EventStatus.DONE
        speech = events.Speech(bot.app.router.catalogs)
        asked = await events.finish(session, {"id": 1}, clock.now, speech)
    assert asked == []  # once: the event is done


async def test_ical_is_an_rfc5545_file_with_a_stable_uid(bot: Bot) -> None:
    await created(bot)
    reply = await bot.reply("alice: /ical E1")
    assert reply.file is not None and reply.file.filename == "E1.ics"
    assert reply.file.content_type == "text/calendar"
    calendar = Calendar.from_ical(reply.file.data)
    (event,) = calendar.walk("VEVENT")
    assert str(event["uid"]) == "event-1@councilbot"
    assert str(event["summary"]) == "Lean workshop"
    assert str(event["location"]) == "MTU Room 2"
    assert event.decoded("dtstart") == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    await bot("/editevent E1 cap 5")
    again = Calendar.from_ical((await bot.reply("alice: /ical E1")).file.data)  # type: ignore[union-attr]
    (changed,) = again.walk("VEVENT")
    assert str(changed["uid"]) == "event-1@councilbot"
    assert int(changed["sequence"]) == 1


async def test_approval_makes_answers_requests_the_organiser_decides(
    bot: Bot, console_out: io.StringIO
) -> None:
    await created(bot, CREATE + " --approval")
    assert await bot("alice: /rsvp E1") == (
        "You asked to come to Lean workshop (E1); the organiser approves each answer. I will "
        "tell you theirs. /unrsvp E1 if you can't come."
    )
    await bot("bob: /rsvp E1")
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:admin] alice asks to come to Lean workshop (E1).\n[1] Approve" in (
        console_out.getvalue()
    )
    assert "Asking to come (2):" in await bot("admin@dm: /attendees E1")
    assert await bot("admin@dm: 1") == "Approved: alice is going to E1; they are told."
    (bob,) = await member_ids(bot, "bob")
    assert await bot(f"admin@dm: /rsvp decline E1 {bob}") == (
        "Declined: bob will not come to E1; they are told."
    )
    assert await bot(f"admin@dm: /rsvp decline E1 {bob}") == (
        "There is no request waiting for an answer there."
    )
    assert await bot("bob: /rsvp E1") == "The organiser of E1 declined your request."
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:bob] Sorry: your request for Lean workshop (E1) was declined." in (
        console_out.getvalue()
    )
    assert "[to dm:alice] Your request was approved: you are going to Lean workshop (E1)" in (
        console_out.getvalue()
    )
    assert "alice asks" in console_out.getvalue()
    assert (await rows(bot))[0][1] is RsvpStatus.GOING


async def test_a_weekly_series_keeps_its_hour_across_a_daylight_saving_change(
    bot: Bot, console_out: io.StringIO
) -> None:
    reply = await bot(
        '/newevent "Lean cycle" 2027-03-18 18:00-20:00 --every week --until 2027-04-08'
    )
    assert (
        "A series of 4 dates: Thu 18 Mar 2027, 18:00 GMT, Thu 25 Mar 2027, 18:00 GMT, "
        "Thu 1 Apr 2027, 18:00 IST, Thu 8 Apr 2027, 18:00 IST."
    ) in reply
    await bot("1")
    async with bot.app.sessionmaker() as session:
        starts = [e.start_at for e in await session.scalars(select(Event).order_by(Event.id))]
    assert [s.hour for s in starts] == [18, 18, 17, 17]  # 18:00 in Cork, before and after
    await bot("alice: /rsvp E2")
    assert await rows(bot, 1) == [] and len(await rows(bot, 2)) == 1  # each date its own
    assert (await bot("/editevent E1 19:00-21:00")).endswith(
        "[1] Only E1  [2] E1 and the rest of its series"
    )
    assert await bot("2") == (
        "E1 is changed (4 dates): time: Thu 18 Mar 2027, 18:00–20:00 GMT → Thu 18 Mar 2027, "
        "19:00–21:00 GMT. Those going and waiting are told, with the updated calendar file."
    )
    async with bot.app.sessionmaker() as session:
        found = list(await session.scalars(select(Event).order_by(Event.id)))
    assert [e.start_at.hour for e in found] == [19, 19, 18, 18]  # 19:00 in Cork, all four
    assert len({e.planned_start_at for e in found}) == 4  # as first planned, for calendars
    await bot('/editevent E4 @ "Room 9" --one')
    async with bot.app.sessionmaker() as session:
        venues = [e.venue for e in await session.scalars(select(Event).order_by(Event.id))]
    assert venues == ["", "", "", "Room 9"]
    asked = await bot("/cancelevent E2")
    assert asked == (
        "E2 is one date of a series. Only this date, or this one and the rest of the series?\n"
        "[1] Only E2  [2] E2 and the rest of its series"
    )
    assert await bot("2") == "E2 is cancelled (3 dates); everyone going or waiting is told."
    async with bot.app.sessionmaker() as session:
        statuses = [e.status for e in await session.scalars(select(Event).order_by(Event.id))]
    assert statuses == [EventStatus.SCHEDULED] + [EventStatus.CANCELLED] * 3
    calendar = Calendar.from_ical((await bot.reply("/ical E1")).file.data)  # type: ignore[union-attr]
    # One series in the file: its rule, the three cancelled dates excluded, and the first
    # date as it stands now (moved to 19:00) overriding the rule's 18:00.
    master, first = calendar.walk("VEVENT")
    assert master["UID"] == first["UID"] == "series-1@councilbot"
    assert master["RRULE"]["FREQ"] == ["WEEKLY"]
    excluded = [d.dt for d in master["EXDATE"].dts]
    assert [(d.month, d.day, d.hour) for d in excluded] == [(3, 25, 18), (4, 1, 18), (4, 8, 18)]
    assert first["RECURRENCE-ID"].dt.hour == 18 and first["DTSTART"].dt.hour == 19


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(bot: Bot) -> None:
    assert (await bot('/newevent "Lean" 2026-12-03 18:00')).startswith(
        "Please give when it ends too, e.g. 18:00-20:00.\n"
        'Usage: /newevent "<title>" <date> <start>-<end> [@ "<venue>"] [cap <capacity>] '
        "[--to <councils>|all] [--guests <n>] [--approval] [--every week|month] "
        "[--until <date>]"
    )
    assert "has already passed" in await bot('/newevent "Lean" 2026-11-30 18:00-20:00')
    assert "must end after it starts" in await bot('/newevent "Lean" 2026-12-03 18:00-17:00')
    assert "Only coordinators" in await bot('bob: /newevent "Lean" 2026-12-03 18:00-20:00')
    assert (await bot('/newevent "Lean" 2026-12-03 18:00-20:00 cap 99999999999')).startswith(
        "The capacity must be a number from 1 to 100000.\nUsage: /newevent"
    )
    assert (await bot('/newevent "Lean" 2026-12-03 18:00-20:00 cap')).startswith(
        "I didn't expect cap."
    )
    assert await bot("/event E9") == "There is no event E9."
    assert (await bot("/rsvp B4")).startswith(
        "B4 is a desk booking; events are named E12, or by their number."
    )
    assert (await bot("/rsvp soon")).startswith("“soon” is not an event id")
    async with bot.app.sessionmaker() as session:
        assert list(await session.scalars(select(Event))) == []


async def test_linked_accounts_are_one_answer_and_their_place_is_freed(bot: Bot) -> None:
    await created(bot)
    await bot("alice@dm: /rsvp E1")
    await bot("alice2@dm: /rsvp E1")  # Alice on another platform, not linked yet: full
    assert "full" in await bot("/events")
    code = (await bot.reply("alice@dm: /linkaccount")).text.split("<code>")[1].split("</code>")[0]
    await bot(f"alice2@dm: /linkaccount {code}")
    assert (await bot("alice2@dm: /rsvp E1")).startswith("Already noted. You are going")
    # The place the second account held is free again: the next member gets it.
    assert (await bot("carol: /rsvp E1")).startswith("You are going")
    assert [r[1] for r in await rows(bot)] == [RsvpStatus.GOING, RsvpStatus.GOING]


async def test_a_larger_capacity_promotes_from_the_waitlist(
    bot: Bot, console_out: io.StringIO
) -> None:
    await created(bot, CREATE.replace("cap 2", "cap 1"))
    await bot("alice: /rsvp E1")
    await bot("bob: /rsvp E1")
    await bot("/editevent E1 cap 2")
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:bob] Good news: a place opened up" in console_out.getvalue()
    assert [r[1] for r in await rows(bot)] == [RsvpStatus.GOING, RsvpStatus.GOING]


async def test_events_are_listed_a_page_at_a_time(bot: Bot) -> None:
    for day in range(2, 9):
        await bot(f'/newevent "Clinic {day}" 2026-12-{day:02d} 10:00-11:00 --yes')
    first = await bot("/events")
    assert first.count(" · Clinic ") == 5
    # The magazine's paging labels (its msgids, so one translation serves both).
    assert first.endswith("Page 1 of 2. /event E1 shows one, with its buttons.\n[1] Next ▶")
    second = await bot("1")
    assert "E6 · " in second and "E7 · " in second and "E1 · " not in second
    assert second.endswith("[1] ◀ Previous")


async def member_ids(bot: Bot, *names: str) -> list[int]:
    async with bot.app.sessionmaker() as session:
        found = await session.scalars(select(Rsvp).order_by(Rsvp.turn))
        by_name = {r.member.display_name: r.member_id for r in found}
    return [by_name[n] for n in names]


async def test_feedback_goes_to_those_who_came_else_to_those_going(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await created(bot)
    await created(bot, CREATE.replace("Lean workshop", "Lean clinic"))
    for event in ("E1", "E2"):
        await bot(f"alice: /rsvp {event}")
        await bot(f"bob: /rsvp {event}")
    clock.now = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
    await bot("alice: /checkin E1")
    clock.now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # both end
    console_out.truncate(0)
    assert await bot.app.scheduler.fire_due() >= 2
    await bot.app.dispatcher.run_until_idle()
    asked = sorted(
        (message.split("]")[0], message.splitlines()[1])
        for message in console_out.getvalue().split("\n\n")
        if "📊 Poll" in message
    )
    # Only alice came to the workshop; nobody checked in at the clinic, so both are asked.
    assert asked == [
        ("[to dm:alice", "How was Lean clinic?"),
        ("[to dm:alice", "How was Lean workshop?"),
        ("[to dm:alice", "What should we do next?"),
        ("[to dm:alice", "What should we do next?"),
        ("[to dm:bob", "How was Lean clinic?"),
        ("[to dm:bob", "What should we do next?"),
    ]


async def test_a_council_feed_holds_its_events_and_cross_council_ones(bot: Bot) -> None:
    await created(bot)  # Cork's
    await bot("admin@ist-chat: /link istanbul")
    await bot('admin@ist-chat: /newevent "Finance day" 2026-12-10 10:00-12:00 --yes')
    await bot('admin@ist-chat: /newevent "Partner meeting" 2026-12-11 10:00-12:00 --to all --yes')
    await bot("/cancelevent E1 --yes")
    async with bot.app.sessionmaker() as session:
        assert await events.council_calendar_events(session, "nowhere", START) is None
        cork = await events.council_calendar_events(session, "cork", START)
        istanbul = await events.council_calendar_events(session, "istanbul", START)
    assert cork is not None and istanbul is not None
    assert [(e.title, e.cancelled) for e in cork] == [
        ("Lean workshop", True),  # cancelled, so that subscribed calendars drop it
        ("Partner meeting", False),
    ]
    assert [e.title for e in istanbul] == ["Finance day", "Partner meeting"]
    assert istanbul[0].zone == "Europe/Istanbul" and istanbul[0].uid == "event-2@councilbot"
    feed = Calendar.from_ical(ics(cork, name="Cork"))
    assert [str(e["summary"]) for e in feed.walk("VEVENT")] == ["Lean workshop", "Partner meeting"]


async def test_a_day_old_preview_is_not_sent_and_reminders_speak_each_members_language(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await bot(CREATE)
    clock.advance(days=1)
    assert await bot("1") == (
        "The preview of E1 is too old to send: create the event again to see who it reaches today."
    )
    await created(bot, CREATE.replace("2026-12-03", "2026-12-05"))  # E2
    await bot("alice@dm: /lang it")
    await bot("alice@dm: /rsvp E2")
    clock.now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert await bot.app.scheduler.fire_due() == 1
    await bot.app.dispatcher.run_until_idle()
    assert (
        "[to dm:alice] ⏰ Promemoria: Lean workshop (E2) inizia sab 5 dic, 18:00–20:00 GMT."
    ) in console_out.getvalue()


async def test_the_hours_read_however_a_phone_types_them(bot: Bot) -> None:
    for n, hours in enumerate(("18:00-20:00", "18:00 - 20:00", "18:00–20:00", "6pm-8pm"), 1):
        reply = await bot(f'/newevent "Lean {n}" 2026-12-03 {hours} @ "Hall" cap 5')
        assert "Thu 3 Dec 2026, 18:00–20:00 GMT\n📍 Hall\n0 going, 5 places left" in reply, hours


async def test_guests_can_be_added_while_places_last_and_given_back(bot: Bot) -> None:
    await created(bot, CREATE.replace("cap 2", "cap 3") + " --guests 2")
    await bot("alice: /rsvp E1")
    await bot("bob: /rsvp E1")
    assert await bot("alice: /rsvp E1 +2") == (
        "There is only 1 place left at E1: you keep your place with your guests as they were."
    )
    assert await bot("alice: /rsvp E1 +1") == (
        "You are going to Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT, with 1 guest. "
        "/unrsvp E1 if you can't come."
    )
    assert "you are number 1 on the waitlist" in await bot("carol: /rsvp E1")
    await bot("alice: /rsvp E1 +0")  # her guest cannot come after all: carol gets the place
    assert [(r[0], r[1], r[2]) for r in await rows(bot)] == [
        ("alice", RsvpStatus.GOING, 0),
        ("bob", RsvpStatus.GOING, 0),
        ("carol", RsvpStatus.GOING, 0),
    ]

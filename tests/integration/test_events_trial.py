"""What a user trial of events found (issue 11): a waitlist that no longer blocks behind a party
too large for the free places, approvals by name, series across a daylight-saving change,
edit confirmations that say what changed, head counts with guests, and clearer wording."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

from sqlalchemy import select

from councilbot.db.models import Event, Rsvp, RsvpStatus
from tests.conftest import Bot, Clock

LEAN = '/newevent "Lean workshop" 2026-12-03 18:00-20:00 {extra} --yes'


async def statuses(bot: Bot, event_id: int = 1) -> list[tuple[str, RsvpStatus, int]]:
    async with bot.app.sessionmaker() as session:
        found = await session.scalars(
            select(Rsvp).where(Rsvp.event_id == event_id).order_by(Rsvp.turn)
        )
        return [(r.member.display_name, r.status, r.guests) for r in found]


async def test_a_party_that_does_not_fit_neither_blocks_the_waitlist_nor_waits_silently(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot(LEAN.format(extra="cap 1"))
    assert (await bot("ayse: /rsvp E1 +1")).startswith(
        "E1 has only 1 place: you and your guests could never all get in. /rsvp E1 alone, "
        "or with fewer guests."
    )
    assert await bot("amelie: /rsvp E1") == (
        "You are going to Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT. /unrsvp E1 if you "
        "can't come."
    )
    await bot(LEAN.format(extra="cap 3 --guests 3"))  # E2
    assert (await bot("alice: /rsvp E2 +3")).startswith("E2 has only 3 places:")
    assert (await bot("alice: /rsvp E2 +2")).startswith("You are going")
    assert (await bot("dave: /rsvp E2 +1")).startswith("There is no place left for you")
    assert "3 going (1 member + 2 guests), full, 1 waiting" in await bot("/event E2")
    # Two places, one left: the guest does not fit, the member alone would. Ask.
    await bot(LEAN.format(extra="cap 2"))  # E3
    await bot("amelie: /rsvp E3")
    assert await bot("ayse: /rsvp E3 +1") == (
        "1 place left at Lean workshop (E3): not enough for your guests too. Come alone, or "
        "wait until there are places for all of you?\n[1] Come alone  [2] Wait with my guests"
    )
    assert await statuses(bot, 3) == [("amelie", RsvpStatus.GOING, 0)]  # nothing noted yet
    assert (await bot("ayse: 2")).startswith(
        "There is no place left for you at Lean workshop (E3): you are number 1 on the waitlist."
    )
    # zoe fits the free place: ayse's party (two places) does not hold her back.
    assert (await bot("zoe: /rsvp E3")).startswith("You are going to Lean workshop (E3)")
    await bot("zoe: /unrsvp E3")
    await bot("carol: /rsvp E3")  # the free place again goes to whoever fits
    assert await bot("/attendees E3") == (
        "Lean workshop (E3) — Thu 3 Dec, 18:00–20:00 GMT\n"
        "Going (2): 0 checked in.\n"
        "• amelie\n"
        "• carol\n"
        "Waitlist (1):\n"
        "1. ayse (+1 guest)"
    )
    await bot("carol: /unrsvp E3")
    await bot.app.dispatcher.run_until_idle()
    console_out.truncate(0)
    console_out.seek(0)
    # ayse comes without her guest after all: she fits the free place and is told.
    assert "you are going" in (await bot("ayse: /rsvp E3 +0")).lower()
    await bot.app.dispatcher.run_until_idle()
    assert (
        "[to dm:ayse] Good news: a place opened up and you are now going to Lean workshop (E3)"
    ) in console_out.getvalue()
    assert [s[1] for s in await statuses(bot, 3)] == [
        RsvpStatus.GOING,
        RsvpStatus.GOING,
        RsvpStatus.LEFT,
        RsvpStatus.LEFT,
    ]


async def test_when_bob_leaves_the_first_who_fits_gets_his_place(bot: Bot) -> None:
    await bot(LEAN.format(extra="cap 2"))
    await bot("alice: /rsvp E1")
    await bot("bob: /rsvp E1")
    assert "number 1 on the waitlist" in await bot("carol: /rsvp E1 +1")
    assert "number 2 on the waitlist" in await bot("dave: /rsvp E1")
    await bot("bob: /unrsvp E1")
    assert [(s[0], s[1]) for s in await statuses(bot)] == [
        ("alice", RsvpStatus.GOING),
        ("bob", RsvpStatus.LEFT),
        ("carol", RsvpStatus.WAITING),  # keeps her turn: first when two places are free
        ("dave", RsvpStatus.GOING),
    ]
    assert "You are number 1 on the waitlist." in await bot("carol: /event E1")
    await bot("alice: /unrsvp E1")
    await bot("dave: /unrsvp E1")
    assert (await statuses(bot))[2][1] is RsvpStatus.GOING


async def test_head_counts_count_guests_everywhere(
    bot: Bot, console_out: io.StringIO, clock: Clock
) -> None:
    await bot('/newevent "Dinner" 2026-12-03 18:00-20:00 cap 2')
    await bot("1")
    await bot("carol: /rsvp E1 +1")
    await bot.app.dispatcher.run_until_idle()
    assert "2 going (1 member + 1 guest), full" in await bot("/event E1")
    assert "Dinner · 2 going (1 member + 1 guest), full" in await bot("/events")
    assert "Going (2): 1 member + 1 guest, 0 checked in.\n• carol (+1 guest)" in await bot(
        "/attendees E1"
    )
    clock.advance(minutes=1)
    await bot.app.dispatcher.run_until_idle()
    assert "2 going (1 member + 1 guest), full\n[1] Going  [2] Not going" in (
        console_out.getvalue()
    )


async def test_requests_are_approved_by_the_name_attendees_shows(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot(LEAN.format(extra="cap 5 --approval"))
    for who in ("alice", "bob", "carol"):
        await bot(f"{who}: /rsvp E1")
    await bot("dave: /rsvp E1 +1")
    await bot.app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    assert "[to dm:admin] alice asks to come to Lean workshop (E1).\n[1] Approve" in out
    assert "[to dm:admin] dave asks to come to Lean workshop (E1) with 1 guest." in out
    assert await bot("admin@dm: /rsvp approve E1 alice") == (
        "Approved: alice is going to E1; they are told."
    )
    assert await bot("admin@dm: /rsvp decline E1 @bob") == (
        "Declined: bob will not come to E1; they are told."
    )
    (carol,) = await member_ids(bot, "carol")
    assert await bot(f"admin@dm: /rsvp approve E1 #{carol}") == (
        "Approved: carol is going to E1; they are told."
    )
    assert (await bot("admin@dm: /rsvp approve E1 nobody")).startswith("Nobody is known as nobody.")
    assert (await bot("admin@dm: /rsvp approve E1")).startswith(
        "Whose request? Give their name as /attendees E1 shows it, @user or #n."
    )


async def member_ids(bot: Bot, *names: str) -> list[int]:
    async with bot.app.sessionmaker() as session:
        found = await session.scalars(select(Rsvp).order_by(Rsvp.turn))
        by_name = {r.member.display_name: r.member_id for r in found}
    return [by_name[n] for n in names]


async def test_a_start_the_clocks_skip_moves_forward_and_keeps_the_length(bot: Bot) -> None:
    reply = await bot(
        '/newevent "Night shift" 2027-03-21 01:30-02:30 --every week --until 2027-04-04'
    )
    assert (
        "01:30 does not exist on 28 Mar in Europe/Dublin (clocks go forward); I used 02:30 "
        "(UTC+01:00). E2 keeps its length: Sun 28 Mar 2027, 02:30–03:30 IST."
    ) in reply
    await bot("1")
    listed = await bot("/events")
    assert "E2 · Sun 28 Mar 2027, 02:30–03:30 IST · Night shift" in listed
    assert "E3 · Sun 4 Apr 2027, 01:30–02:30 IST · Night shift" in listed
    reply = await bot('/newevent "Single gap" 2027-03-28 01:30-03:00 --yes')
    assert reply.endswith(
        "01:30 does not exist on 28 Mar in Europe/Dublin (clocks go forward); I used 02:30 "
        "(UTC+01:00). E4 keeps its length: Sun 28 Mar 2027, 02:30–04:00 IST."
    )
    assert "E4 · Sun 28 Mar 2027, 02:30–04:00 IST · Single gap" in await bot("/events")


async def test_edit_confirmations_say_what_changed_and_a_lone_time_moves_the_start(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot(LEAN.format(extra="cap 3"))
    await bot("alice: /rsvp E1")
    assert await bot("/editevent E1 cap 1") == "E1 is changed: capacity 3 → 1."
    assert await bot("/editevent E1 --title New name") == (
        "E1 is changed: title: Lean workshop → New name. Those going and waiting are told, "
        "with the updated calendar file."
    )
    assert await bot('/editevent E1 @ "MTU Room 2"') == (
        "E1 is changed: venue: MTU Room 2. Those going and waiting are told, with the updated "
        "calendar file."
    )
    assert await bot("/editevent E1 19:00") == (
        "E1 is changed: time: Thu 3 Dec, 18:00–20:00 GMT → Thu 3 Dec, 19:00–21:00 GMT. Those "
        "going and waiting are told, with the updated calendar file."
    )
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:alice] Lean workshop (E1) is now called New name:\n🕒 Thu 3 Dec" in (
        console_out.getvalue()
    )


async def test_cancelling_one_event_asks_first_and_keep_tells_nobody(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot(LEAN.format(extra="cap 1"))
    await bot("alice: /rsvp E1")
    await bot("bob: /rsvp E1")
    await bot.app.dispatcher.run_until_idle()
    console_out.truncate(0)
    console_out.seek(0)
    assert await bot("/cancelevent E1") == (
        "Cancel Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT? 1 going and 1 waiting will be "
        "told.\n[1] Cancel event  [2] Keep"
    )
    assert await bot("2") == "E1 stays on; nobody was told anything."
    await bot.app.dispatcher.run_until_idle()
    assert console_out.getvalue() == ""
    assert "1 going, full, 1 waiting" in await bot("/event E1")
    assert await bot("/cancelevent E1 --yes") == (
        "E1 is cancelled; everyone going or waiting is told."
    )


async def test_one_place_is_said_in_the_singular(bot: Bot, console_out: io.StringIO) -> None:
    await bot('/newevent "Dinner" 2026-12-03 18:00-20:00 cap 1 --guests 0 --yes')
    assert (await bot("alice: /rsvp E1 +1")).startswith("E1 takes no guests.")
    await bot("alice: /rsvp E1")
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:admin] Dinner (E1) is full: its 1 place is taken." in console_out.getvalue()
    await bot('/newevent "Lunch" 2026-12-04 12:00-13:00 cap 2 --yes')
    await bot("alice: /rsvp E2")
    await bot("bob: /rsvp E2")
    assert await bot("alice: /rsvp E2 +1") == (
        "E2 is full: you keep your place with your guests as they were."
    )


async def test_event_pages_say_when_check_in_opens_and_what_no_longer_applies(
    bot: Bot, clock: Clock
) -> None:
    preview = await bot('/newevent "Lean workshop" 2026-12-03 18:00-20:00 cap 3 --guests 2')
    assert "Thu 3 Dec 2026, 18:00–20:00 GMT" in preview  # as the post reads
    await bot("1")
    await bot("alice: /rsvp E1")
    assert await bot("alice: /checkin E1") == (
        "Check-in for E1 opens on the day of the event, from Thu 3 Dec, 00:00 GMT; it starts "
        "at 18:00."
    )
    clock.now = datetime(2026, 12, 3, 17, 30, tzinfo=UTC)
    assert "[4] Check in" in await bot("alice: /event E1")
    await bot("alice: /checkin E1")
    shown = await bot("alice: /event E1")
    assert "You checked in." in shown and "Check in" not in shown.replace("checked in", "")
    clock.now = datetime(2026, 12, 3, 20, 30, tzinfo=UTC)
    ended = await bot("alice: /event E1")
    assert "E1 has ended." in ended and "You may bring" not in ended
    await bot('/newevent "Clinic" 2026-12-10 10:00-11:00 --guests 2 --yes')
    await bot("/cancelevent E2 --yes")
    cancelled = await bot("/event E2")
    assert "Cancelled." in cancelled and "You may bring" not in cancelled


async def test_a_series_cut_at_52_dates_says_so(bot: Bot) -> None:
    reply = await bot('/newevent "Weekly" 2026-12-03 18:00-19:00 --every week --until 2028-12-31')
    assert (
        "A series has at most 52 dates: this one stops on Thu 25 Nov 2027, 18:00–19:00 GMT, "
        "before --until 31 Dec 2028."
    ) in reply
    reply = await bot('/newevent "Weekly" 2026-12-03 18:00-19:00 --every week --until 2027-01-01')
    assert "at most 52" not in reply


async def test_parties_arriving_and_leaving_at_once_never_pass_the_capacity(bot: Bot) -> None:
    await bot(LEAN.format(extra="cap 10"))
    await asyncio.gather(
        *(bot(f"m{n}: /rsvp E1 {'+1 --wait' if n % 2 else ''}") for n in range(30))
    )
    await asyncio.gather(
        *(bot(f"m{n}: /unrsvp E1") for n in range(0, 12, 3)),
        *(bot(f"m{n}: /rsvp E1 +0") for n in range(15, 30, 2)),
    )
    async with bot.app.sessionmaker() as session:
        event = await session.get(Event, 1)
        rows = list(await session.scalars(select(Rsvp).where(Rsvp.event_id == 1)))
    assert event is not None
    going = sum(r.places for r in rows if r.status is RsvpStatus.GOING)
    assert event.taken == going <= 10
    free = 10 - going
    # Nobody waits whom the free places would fit: the waitlist was served.
    assert not [r for r in rows if r.status is RsvpStatus.WAITING and r.places <= free]

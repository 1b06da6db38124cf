"""Events after the code review: who may post, change and cancel a cross-council event, a
capacity that would put people out, notices told once, ids read as everywhere else, the
council feed's one look-up and the preview's Cancel refusal."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import func, select

from councilbot.core.ids import MAX_ID
from councilbot.db.models import Delivery, Event, EventStatus, Rsvp, RsvpStatus
from councilbot.services import events
from tests.conftest import START, Bot, Clock

MALAGA = "Andalusian council (Smart City cluster)"
CROSS = '/newevent "Partner meeting" 2026-12-03 18:00-20:00 --to cork,malaga'


async def event_count(bot: Bot) -> int:
    async with bot.app.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def known(bot: Bot, *people: str) -> None:
    for person in people:
        await bot(f"{person}@dm: /lang en")


async def test_a_coordinator_posts_events_only_to_the_councils_they_coordinate(bot: Bot) -> None:
    await known(bot, "bob")
    await bot("/coordinator add bob cork")
    assert await bot(f"bob: {CROSS}") == (
        f"You can only announce to councils you coordinate; not to {MALAGA}."
    )
    refused = await bot('bob: /newevent "Partner meeting" 2026-12-03 18:00-20:00 --to all')
    assert refused.startswith(
        "Announcing to all councils needs an admin, or a coordinator of every council; you do "
        "not coordinate "
    )
    assert MALAGA in refused and "Southern Ireland" not in refused
    assert await event_count(bot) == 0
    # Coordinating both, Bob previews; if Malaga is taken from him before Send, Send refuses.
    await bot("/coordinator add bob malaga")
    assert "Preview of event E1" in await bot(f"bob: {CROSS}")
    await bot("/coordinator remove bob malaga")
    assert await bot("bob: 1") == (
        f"You can only announce to councils you coordinate; not to {MALAGA}."
    )
    async with bot.app.sessionmaker() as session:
        assert (await session.get(Event, 1)).status is EventStatus.DRAFT  # type: ignore[union-attr]


async def test_only_its_organiser_an_admin_or_a_coordinator_of_all_its_councils_changes_it(
    bot: Bot,
) -> None:
    await known(bot, "bob", "carol")
    await bot(f"{CROSS} --yes")  # the admin's, reaching Cork and Malaga
    await bot("/coordinator add bob cork")
    refusal = (
        "Only the organiser of E1, an admin or a coordinator of every council it reaches can "
        f"change or cancel it; you do not coordinate {MALAGA}."
    )
    assert await bot("bob: /cancelevent E1") == refusal
    assert await bot("bob: /editevent E1 cap 5") == refusal
    await bot("/coordinator add carol cork")
    await bot("/coordinator add carol malaga")
    assert (await bot("carol: /editevent E1 cap 5")).startswith("E1 is changed")
    assert (await bot("carol: /cancelevent E1 --yes")).startswith("E1 is cancelled")
    # Its organiser keeps the right to change it after losing a council.
    await bot("/coordinator add bob malaga")
    await bot(f"bob: {CROSS} --yes")
    await bot("/coordinator remove bob malaga")
    assert (await bot("bob: /editevent E2 cap 5")).startswith("E2 is changed")


async def test_the_capacity_cannot_go_below_the_places_taken(bot: Bot) -> None:
    await bot('/newevent "Lean workshop" 2026-12-03 18:00-20:00 cap 4 --yes')
    await bot("alice: /rsvp E1 +1")
    await bot("bob: /rsvp E1")
    assert (await bot("/editevent E1 cap 2")).startswith(
        "E1 already has 3 places taken (guests included), more than a capacity of 2: give at "
        "least 3. /attendees E1 lists who is going."
    )
    async with bot.app.sessionmaker() as session:
        event = await session.get(Event, 1)
        assert event is not None and (event.capacity, event.taken) == (4, 3)
    assert (await bot("/editevent E1 cap 3")).startswith("E1 is changed")  # as many as taken


async def test_a_notice_told_twice_is_queued_once(bot: Bot, clock: Clock) -> None:
    await bot('/newevent "Lean workshop" 2026-12-03 18:00-20:00 --yes')
    await bot("alice: /rsvp E1")
    speech = events.Speech(bot.app.catalogs)
    told = []
    for later in (0, 1):  # the same reminder, run again (a retried transaction, a second run)
        async with bot.app.sessionmaker() as session, session.begin():
            payload = {"id": 1, "before": 60}
            told.append(
                await events.remind(session, payload, clock.now + timedelta(seconds=later), speech)
            )
    assert told == [1, 0]
    async with bot.app.sessionmaker() as session:
        reminders = await session.scalar(
            select(func.count()).where(Delivery.source == events.NOTE_SOURCE)
        )
    assert reminders == 1


async def test_ids_too_large_for_any_column_get_one_answer(bot: Bot) -> None:
    assert await bot("/event E99999999999") == (f"There is no E99999999999: ids go up to {MAX_ID}.")
    assert (await bot("/checkin B99999999999")).startswith(
        f"There is no B99999999999: ids go up to {MAX_ID}."
    )
    assert (await bot(f"/rsvp {'9' * 40}")).startswith(
        f"There is no E{'9' * 12}…: ids go up to {MAX_ID}."
    )


async def test_a_council_feed_looks_up_its_council_alone(bot: Bot) -> None:
    await bot('/newevent "Lean workshop" 2026-12-03 18:00-20:00 --yes')
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    sync_engine = bot.app.engine.sync_engine
    sqlalchemy.event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        async with bot.app.sessionmaker() as session:
            feed = await events.council_calendar_events(session, "Cork", START)
    finally:
        sqlalchemy.event.remove(sync_engine, "before_cursor_execute", seen)
    assert feed is not None and [e.title for e in feed] == ["Lean workshop"]
    # Not every council, to find one: each read of councils names what it wants.
    read = [s for s in statements if "FROM councils" in s]
    assert read and all(" WHERE " in s for s in read)


async def test_only_its_author_may_drop_or_change_a_preview(bot: Bot) -> None:
    await known(bot, "bob")
    await bot('/newevent "Lean workshop" 2026-12-03 18:00-20:00')
    await bot("/coordinator add bob cork")
    assert await bot("bob: /newevent cancel E1") == (
        "Only the coordinator who wrote E1 can cancel it."
    )
    assert await bot("bob: /editevent E1 cap 3") == (
        "Only the coordinator who wrote E1 can change it."
    )


async def test_a_smaller_capacity_racing_answers_never_puts_anyone_out(bot: Bot) -> None:
    await bot('/newevent "Open day" 2026-12-03 10:00-12:00 cap 10 --yes')
    await asyncio.gather(*(bot(f"m{n}: /rsvp E1") for n in range(2)))
    replies = await asyncio.gather(
        *(bot(f"m{n}: /rsvp E1") for n in range(2, 8)), bot("/editevent E1 cap 5")
    )
    edited = replies[-1]
    async with bot.app.sessionmaker() as session:
        event = await session.get(Event, 1)
        going = await session.scalar(
            select(func.count()).where(Rsvp.event_id == 1, Rsvp.status == RsvpStatus.GOING)
        )
    assert event is not None and event.taken == going
    if edited.startswith("E1 is changed"):  # in before more than 5 answered: 5 go, 3 wait
        assert (event.capacity, going) == (5, 5)
    else:  # after: refused, naming the places taken, and the capacity stays
        assert re.match(r"E1 already has ([6-8]) places taken", edited)
        assert event.capacity == 10 and going == 8

"""Events on Telegram: the post's inline buttons (Going, Not going, Add to calendar) pressed by
members in the group answer each of them privately, the calendar file comes as a document, and
a waitlist promotion reaches the promoted member's private chat through the real target."""

from __future__ import annotations

import asyncio
from typing import Any

from icalendar import Calendar
from sqlalchemy import select

from councilbot.app import App
from councilbot.db.models import Rsvp, RsvpStatus
from tests.adapters.telegram.test_telegram_adapter import GROUP, USER, callback, command, say, until
from tests.adapters.telegram.test_telegram_announce import (
    api,
    keyboard,
    private,
    telegram_app,
)
from tests.fakes.telegram_api import FakeTelegramAPI

__all__ = ["api", "telegram_app"]  # the fixtures, shared
LUCA = "222"


def pressed_in_group(data: str, user: int, name: str, message_id: int) -> dict[str, Any]:
    """Return a member's press of a button on the bot's post in the group."""
    update = callback(data, message_id=message_id, text="📅 Lean workshop")
    query = update["callback_query"]
    query["from"].update(id=user, first_name=name, last_name="", username=name.lower())
    query["message"]["chat"] = {"id": int(GROUP), "title": "Cork members", "type": "supergroup"}
    return update


async def test_members_press_going_on_the_group_post_and_the_waitlist_moves(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(30):
        await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
        preview = await say(
            api,
            private(
                '/newevent "Lean workshop" 2026-12-03 18:00-20:00 cap 1 --to cork', int(USER), "en"
            ),
            USER,
        )
        assert list(keyboard(preview)) == ["Send", "Edit", "Cancel"]
        api.push_update(callback(keyboard(preview)["Send"], message_id=7, text="preview"))
        await until(lambda: api.calls("editMessageText"))
        await telegram_app.dispatcher.run_until_idle()
        [post] = [r for r in api.sent if r.chat_id == GROUP and "Lean workshop" in r.params["text"]]
        buttons = keyboard(post)
        assert list(buttons) == ["Going", "Not going", "Add to calendar"]
        assert "0 going, 1 place left" in post.params["text"]
        # Luca presses Going in the group: the answer is his alone, in his private chat.
        going = await say(api, pressed_in_group(buttons["Going"], int(LUCA), "Luca", 9), LUCA)
        assert going.params["text"].startswith("You are going to Lean workshop (E1)")
        # Ana presses it too: the one place is taken, she waits.
        waiting = await say(api, pressed_in_group(buttons["Going"], int(USER), "Ana", 9), USER)
        assert "you are number 1 on the waitlist" in waiting.params["text"]
        # Add to calendar: the .ics comes as a document.
        api.push_update(pressed_in_group(buttons["Add to calendar"], int(LUCA), "Luca", 9))
        [document] = await until(lambda: api.files)
        # Luca cannot come after all: Ana gets his place and a direct message saying so.
        await say(api, pressed_in_group(buttons["Not going"], int(LUCA), "Luca", 9), LUCA)
        await telegram_app.dispatcher.run_until_idle()
    assert document.method == "sendDocument" and document.chat_id == LUCA
    upload = document.params["document"]
    assert upload["filename"] == "E1.ics"
    (event,) = Calendar.from_ical(upload["data"]).walk("VEVENT")
    assert str(event["uid"]) == "event-1@councilbot"
    promoted = [t for t in api.texts_to(USER) if t.startswith("Good news: a place opened up")]
    assert promoted == [
        "Good news: a place opened up and you are now going to Lean workshop (E1), "
        "Thu 3 Dec, 18:00–20:00 GMT."
    ]
    async with telegram_app.sessionmaker() as session:
        statuses = [r.status for r in await session.scalars(select(Rsvp).order_by(Rsvp.turn))]
    assert statuses == [RsvpStatus.LEFT, RsvpStatus.GOING]

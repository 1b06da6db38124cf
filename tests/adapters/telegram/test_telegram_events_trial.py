"""Events on Telegram after the user trial: the 'come alone?' question and the cancel question
are inline buttons that answer whoever presses them."""

from __future__ import annotations

import asyncio
from typing import Any

from councilbot.app import App
from tests.adapters.telegram.test_telegram_adapter import USER, callback, say, until
from tests.adapters.telegram.test_telegram_announce import api, keyboard, private, telegram_app
from tests.fakes.telegram_api import FakeTelegramAPI

__all__ = ["api", "telegram_app"]  # the fixtures, shared
LUCA = "222"


async def test_come_alone_and_keep_are_buttons(telegram_app: App, api: FakeTelegramAPI) -> None:
    async with asyncio.timeout(30):
        await say(
            api,
            private(
                '/newevent "Lean workshop" 2026-12-03 18:00-20:00 cap 2 --to cork --yes',
                int(USER),
                "en",
            ),
            USER,
        )
        await say(api, private("/rsvp E1", int(LUCA), "en"), LUCA)
        offer = await say(api, private("/rsvp E1 +1", int(USER), "en"), USER)
        assert offer.params["text"].startswith("1 place left at Lean workshop (E1)")
        assert list(keyboard(offer)) == ["Come alone", "Wait with my guests"]
        alone = await pressed(api, callback(keyboard(offer)["Come alone"], message_id=5))
        assert alone.startswith("You are going to Lean workshop (E1)")
        asked = await say(api, private("/cancelevent E1", int(USER), "en"), USER)
        assert asked.params["text"].startswith("Cancel Lean workshop (E1)")
        assert list(keyboard(asked)) == ["Cancel event", "Keep"]
        kept = await pressed(api, callback(keyboard(asked)["Keep"], message_id=6))
        assert kept == "E1 stays on; nobody was told anything."


async def pressed(api: FakeTelegramAPI, update: dict[str, Any]) -> str:
    """Press a button in the private chat; return the answer (the message is edited to it)."""
    before = len(api.calls("editMessageText"))
    api.push_update(update)
    edits = await until(lambda: api.calls("editMessageText")[before:])
    return str(edits[0].params["text"])

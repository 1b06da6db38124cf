"""Hot desks on Slack: `/council book` alone opens a modal with a facility menu, a date picker
and the slot; Book and Cancel buttons work as the typed commands (signed requests to the real
bolt app, the Web API faked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.db.models import Booking, BookingStatus
from councilbot.db.session import create_sessionmaker
from councilbot.services.councils import read_seed_file
from councilbot.services.desks import seed_facilities
from tests.adapters.slack.test_slack_adapter import ADMIN, adapter_for, answered, slash
from tests.adapters.slack.test_slack_announce import buttons, press
from tests.adapters.slack.test_slack_forms import submit
from tests.conftest import SEED_FILE, START
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture(autouse=True)
async def facilities(seeded: AsyncEngine) -> None:
    async with create_sessionmaker(seeded)() as session, session.begin():
        await seed_facilities(session, read_seed_file(SEED_FILE), now=START)


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


async def bookings(app: App) -> list[tuple[str, str, BookingStatus]]:
    async with app.sessionmaker() as session:
        found = await session.scalars(select(Booking).order_by(Booking.id))
        return [(b.desk.code, b.slot.value, b.status) for b in found]


def said(api: FakeSlackAPI) -> list[str]:
    """Return every text the bot posted, in the channel or to the admin alone."""
    return [
        str(r.params.get("text"))
        for method in ("chat.postMessage", "chat.postEphemeral")
        for r in api.calls(method)
    ]


async def test_book_alone_opens_a_form_with_the_facilities_a_date_and_the_slot(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    [opened] = await answered(
        adapter, slash(api, "book", user_id=ADMIN), lambda: api.calls("views.open")
    )
    inputs = {
        b["block_id"]: b["element"] for b in opened.params["view"]["blocks"] if b["type"] == "input"
    }
    assert inputs["target"]["type"] == "static_select"
    assert {
        "text": {"type": "plain_text", "text": "MTU Rubicon Centre (Cork)", "emoji": True},
        "value": "cork-rubicon",
    } in inputs["target"]["options"]
    assert inputs["date"]["type"] == "datepicker"
    assert [o["value"] for o in inputs["slot"]["options"]] == ["am", "pm", "day"]
    refused = await submit(adapter, opened, target="bologna-tecnopolo", date="2026-12-08")
    assert refused is not None and refused["response_action"] == "update"  # the form stays
    [reason] = [b for b in refused["view"]["blocks"] if b.get("block_id") == "problem"]
    assert reason["text"]["text"] == (
        "⚠️ Bologna Tecnopolo is closed on Tue 8 Dec 2026: it is a holiday there.\n"
        "Free instead: Wed 9 Dec 2026, whole day at Bologna Tecnopolo "
        "(`/council book bologna-tecnopolo 2026-12-09 day`)"
    )
    before = len(said(api))
    answer = await submit(adapter, opened, target="cork-rubicon", date="2026-12-02", slot="pm")
    assert answer is None  # the modal closes
    await adapter.drain()
    assert any(
        t.startswith("✅ Booked B1: desk R1 at MTU Rubicon Centre") for t in said(api)[before:]
    )
    assert await bookings(slack_app) == [("R1", "pm", BookingStatus.BOOKED)]


async def test_book_and_cancel_buttons(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    [listing] = await answered(
        adapter,
        slash(api, "desks cork-rubicon tomorrow", user_id=ADMIN),
        lambda: api.calls("chat.postMessage") or api.calls("chat.postEphemeral"),
    )
    [booked] = await answered(
        adapter, press(api, buttons(listing)["Book R3 (whole day)"], "book"), lambda: api.responses
    )
    assert booked.params["text"].startswith("✅ Booked B1: desk R3 at MTU Rubicon Centre")
    [mine] = await answered(
        adapter,
        slash(api, "mybookings", user_id=ADMIN),
        lambda: [
            r for r in api.calls("chat.postEphemeral") if "Your desk bookings" in r.params["text"]
        ],
    )
    assert list(buttons(mine)) == ["Cancel B1"]
    responses = await answered(
        adapter,
        press(api, buttons(mine)["Cancel B1"], "cancel"),
        lambda: len(api.responses) > 1 and api.responses,
    )
    assert responses[1].params["text"].startswith("Cancelled B1: desk R3")
    assert await bookings(slack_app) == [("R3", "day", BookingStatus.CANCELLED)]

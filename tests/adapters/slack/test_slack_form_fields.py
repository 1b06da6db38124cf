"""Slack form field types: each argument type gets its Block Kit input (date picker, time
picker, day + time for a moment in the council's zone, number input, multi-select of the
councils, checkbox), and what is picked comes back exactly as the typed command would.

Real slack-bolt against the fake Web API; the views.open call shows the form, the
view_submission carries view.state as Slack shapes it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

import pytest
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import selectinload

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.slack.forms import form_values
from councilbot.app import App, command_specs
from councilbot.core.grammar import (
    ArgModel,
    CommaList,
    Councils,
    Flag,
    LocalDate,
    LocalTime,
    When,
)
from councilbot.core.i18n import N_
from councilbot.core.messages import Reply
from councilbot.core.router import CommandSpec, Context, Role, Router
from councilbot.db.models import Announcement
from councilbot.db.session import create_sessionmaker
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    CHANNEL,
    adapter_for,
    answered,
    calls_to,
    slash,
    until,
)
from tests.adapters.slack.test_slack_forms import submit
from tests.fakes.slack_api import FakeSlackAPI, Recorded


class BookingArgs(ArgModel):
    """A test-only command with one argument of each type a form knows."""

    councils: Annotated[str, Field(title=N_("councils")), CommaList(), Councils()]
    day: Annotated[LocalDate, Field(title=N_("date"))]
    seats: Annotated[int, Field(title=N_("seats"), ge=1, le=12)]
    start: Annotated[LocalTime | None, Field(title=N_("time")), Flag()] = None
    at: Annotated[When | None, Field(title=N_("when")), Flag()] = None
    quiet: Annotated[bool, Flag()] = False


async def book(ctx: Context, args: BookingArgs) -> Reply:
    """Say what was read, in the council's zone, so that the test can compare."""
    at = args.at.astimezone(ctx.tz).isoformat() if args.at else None
    return Reply(
        text=f"read: {args.councils} | {args.day} | {args.seats} | {args.start} | {at} | "
        f"{args.quiet}"
    )


BOOK = CommandSpec(
    name="reserve",
    handler=book,
    summary=N_("Book"),
    area="test",
    args=BookingArgs,
    role=Role.MEMBER,
    form=True,
)


@pytest.fixture
async def router(slack_app: App) -> Router:
    """The app's router with the test-only /reserve command (/book is the desks feature's) added."""
    base = slack_app.router
    return Router(
        [*command_specs(), BOOK],
        sessionmaker=base.sessionmaker,
        reader=base.reader,
        directory=base.directory,
        catalogs=base.catalogs,
        settings=base.settings,
        clock=base.clock,
    )


@pytest.fixture
async def adapter(router: Router, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(router, api)
    yield adapter
    await adapter.stop()


async def link(adapter: SlackAdapter, api: FakeSlackAPI, council: str) -> None:
    """Link the channel to a council as the admin, so that its zone applies."""
    await answered(
        adapter,
        slash(api, f"link {council}", user_id=ADMIN, user_name="admin"),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    await adapter.drain()


async def open_form(adapter: SlackAdapter, api: FakeSlackAPI, command: str) -> Recorded:
    before = len(api.calls("views.open"))
    await answered(
        adapter, slash(api, command, user_id=ADMIN), lambda: api.calls("views.open")[before:]
    )
    return api.calls("views.open")[before]


def inputs(opened: Recorded) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in opened.params["view"]["blocks"] if b["type"] == "input"}


async def said(adapter: SlackAdapter, api: FakeSlackAPI, before: int) -> str:
    """Return the text of the next message the bot posts in the channel."""
    posts = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL)[before:])
    await adapter.drain()
    return str(posts[0].params["text"])


async def test_each_argument_type_gets_its_input(adapter: SlackAdapter, api: FakeSlackAPI) -> None:
    await link(adapter, api, "malaga")

    fields = inputs(await open_form(adapter, api, "reserve"))

    assert {name: block["element"]["type"] for name, block in fields.items()} == {
        "councils": "multi_static_select",
        "day": "datepicker",
        "seats": "number_input",
        "start": "timepicker",
        "at": "datepicker",
        "at__time": "timepicker",
        "quiet": "checkboxes",
    }
    councils = fields["councils"]["element"]["options"]
    assert [o["value"] for o in councils] == sorted(
        ["malaga", "alcala", "bologna", "cork", "istanbul", "paris"]
    )
    names = {o["value"]: o["text"]["text"] for o in councils}
    assert names["cork"] == "Southern Ireland council (MTU)"  # the name, the slug underneath
    seats = fields["seats"]["element"]
    assert (seats["is_decimal_allowed"], seats["min_value"], seats["max_value"]) == (
        False,
        "1",
        "12",
    )
    # Times are picked in the zone of the channel's council, and the label says which.
    assert fields["start"]["element"]["timezone"] == "Europe/Madrid"
    assert fields["at__time"]["element"]["timezone"] == "Europe/Madrid"
    # Labelled in the channel's language (Málaga's: Spanish), the zone named.
    assert fields["at"]["label"]["text"] == "cuándo: día"
    assert fields["at__time"]["label"]["text"] == "cuándo: hora (Europe/Madrid)"
    assert (fields["councils"]["optional"], fields["start"]["optional"]) == (False, True)


async def test_what_is_picked_reads_exactly_as_the_typed_command(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    await link(adapter, api, "malaga")
    before = len(calls_to(api, "chat.postMessage", CHANNEL))
    await answered(
        adapter,
        slash(
            api,
            'reserve cork,malaga 2026-12-03 4 --start 14:30 --at "2026-12-04 09:00" --quiet',
            user_id=ADMIN,
        ),
        lambda: calls_to(api, "chat.postMessage", CHANNEL)[before:],
    )
    typed = await said(adapter, api, before)

    opened = await open_form(adapter, api, "reserve")
    before = len(calls_to(api, "chat.postMessage", CHANNEL))
    answer = await submit(
        adapter,
        opened,
        councils="cork,malaga",
        day="2026-12-03",
        seats="4",
        start="14:30",
        at="2026-12-04",
        at__time="09:00",
        quiet="on",
    )
    picked = await said(adapter, api, before)

    assert answer is None  # the modal closes
    # 09:00 in Málaga's zone (CET), whoever picks it and wherever their Slack says they are.
    assert (
        typed
        == picked
        == ("read: cork,malaga | 2026-12-03 | 4 | 14:30:00 | 2026-12-04T09:00:00+01:00 | True")
    )


async def test_left_empty_the_optional_inputs_are_not_given(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    opened = await open_form(adapter, api, "reserve")
    before = len(calls_to(api, "chat.postMessage", CHANNEL))

    assert await submit(adapter, opened, councils="cork", day="2026-12-03", seats="2") is None

    assert await said(adapter, api, before) == "read: cork | 2026-12-03 | 2 | None | None | False"


async def test_a_day_without_its_time_is_refused_beside_the_day(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    opened = await open_form(adapter, api, "reserve")

    answer = await submit(
        adapter, opened, councils="cork", day="2026-12-03", seats="2", at="2026-12-04"
    )

    assert answer is not None and answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["at"]
    assert "2026-12-04" in answer["errors"]["at"]


async def test_announce_form_schedules_for_the_councils_picked_in_their_zone(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await link(adapter, api, "malaga")
    opened = await open_form(adapter, api, "announce")

    answer = await submit(
        adapter,
        opened,
        target="cork,malaga",
        text="Desks are free",
        at="2026-12-03",
        at__time="09:00",
    )

    assert answer is None
    [preview] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    assert "jue 3 dic, 09:00 CET" in preview.params["text"]  # the Málaga channel speaks Spanish
    await adapter.drain()
    async with create_sessionmaker(seeded)() as session:
        [stored] = (
            await session.scalars(select(Announcement).options(selectinload(Announcement.councils)))
        ).all()
    assert sorted(c.slug for c in stored.councils) == ["cork", "malaga"]
    assert stored.scheduled_at == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert json.loads(opened.params["view"]["private_metadata"])["channel"] == CHANNEL


def test_the_booking_model_reads_its_types() -> None:
    """Guard the test model itself: typed values have the types the form maps."""
    args = BookingArgs.model_validate(
        {"councils": "cork", "day": "2026-12-03", "seats": "3", "start": "9h30"},
        context={"today": date(2026, 12, 1), "now": datetime(2026, 12, 1, tzinfo=UTC)},
    )
    assert (args.day, args.seats, args.start) == (date(2026, 12, 3), 3, time(9, 30))


def test_view_state_in_slacks_shapes_reads_as_typed_text() -> None:
    """view.state as Slack sends it (slack_sdk's ViewStateValue fields) becomes typed text."""
    option = {"text": {"type": "plain_text", "text": "Cork"}, "value": "cork"}
    other = {"text": {"type": "plain_text", "text": "Málaga"}, "value": "malaga"}
    state = {
        "values": {
            "councils": {
                "value": {"type": "multi_static_select", "selected_options": [option, other]}
            },
            "day": {"value": {"type": "datepicker", "selected_date": "2026-12-03"}},
            "seats": {"value": {"type": "number_input", "value": "4"}},
            # The time picker of a moment may come before its day: the day still leads.
            "at__time": {"value": {"type": "timepicker", "selected_time": "09:00"}},
            "at": {"value": {"type": "datepicker", "selected_date": "2026-12-04"}},
            "start": {"value": {"type": "timepicker", "selected_time": None}},
            "quiet": {"value": {"type": "checkboxes", "selected_options": []}},
            # A datetimepicker's UNIX time, written with its offset: the same moment anywhere.
            "then": {"value": {"type": "datetimepicker", "selected_date_time": 1796371200}},
        }
    }

    assert form_values(state) == {
        "councils": "cork,malaga",
        "day": "2026-12-03",
        "seats": "4",
        "at": "2026-12-04 09:00",
        "start": "",
        "quiet": "",
        "then": "2026-12-04T08:00+00:00",
    }


async def test_a_form_time_is_read_in_the_zone_its_label_named_whatever_the_councils(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    """From the Istanbul channel to Cork: the time picked under "time (Europe/Istanbul)" is
    Istanbul's; the announcement is Cork's, so its times are shown in Cork's zone, with a note
    naming the zone the time was read in."""
    await link(adapter, api, "istanbul")
    opened = await open_form(adapter, api, "announce")
    assert inputs(opened)["at__time"]["label"]["text"].endswith("(Europe/Istanbul)")

    await submit(adapter, opened, target="cork", text="Desks", at="2026-12-03", at__time="09:00")

    [preview] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    text = preview.params["text"]  # in Turkish: the Istanbul channel's language
    assert "Europe/Istanbul" in text.splitlines()[0]  # the note: where the time was read
    assert "06:00 GMT" in text  # the same moment, in the announcement's (Cork's) zone
    await adapter.drain()
    async with create_sessionmaker(seeded)() as session:
        [stored] = (await session.scalars(select(Announcement))).all()
    assert stored.scheduled_at == datetime(2026, 12, 3, 6, 0, tzinfo=UTC)  # 09:00 in Istanbul
    assert stored.timezone == "Europe/Dublin"

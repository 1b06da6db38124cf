"""A member's home: /me, /mycalendar, /mydata, /forgetme, and the weekly `digest` topic.

What each shows comes from every feature's `MemberData` (core.features), gathered by
services/home.py: this module only words the replies.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from markupsafe import Markup
from pydantic import Field

from councilbot.core.errors import Conflict
from councilbot.core.features import (
    Erasure,
    Feature,
    JobKind,
    MemberData,
    MemberView,
    Topic,
)
from councilbot.core.grammar import ArgModel, NoArgs
from councilbot.core.i18n import N_
from councilbot.core.messages import Attachment, Button, Reply
from councilbot.core.router import CommandSpec, Context
from councilbot.db.models import Member
from councilbot.services import home, members

ME = N_("Your home")
CALENDAR_PATH = "/calendar/me/{token}.ics"


async def _member(ctx: Context) -> Member:
    member = await ctx.session.get(Member, ctx.member.id)
    assert member is not None  # the router has just resolved them
    return member


async def home_reply(ctx: Context) -> Reply:
    """Build the member's home: every feature's section, with its buttons, only for them."""
    t = ctx.t
    member = await _member(ctx)
    zone = await home.member_zone(ctx.session, member)
    view = MemberView(ctx.session, member.id, ctx.now, t, zone, settings=ctx.settings)
    found = await home.home_sections(ctx.router.members, view)
    text = home.render_sections(t("<b>Your home</b>, {name}", name=member.display_name), found)
    footer = t(
        "Your calendar in your calendar app: /mycalendar · everything I keep about you: "
        "/mydata · erase it: /forgetme"
    )
    buttons = tuple(row for section in found for row in section.buttons)
    return Reply(text=Markup("{}\n\n<i>{}</i>").format(text, footer), buttons=buttons, private=True)


async def me(ctx: Context, _args: NoArgs) -> Reply:
    """Show your home: what you are going to, booked and asked, and your subscriptions."""
    return await home_reply(ctx)


class CalendarArgs(ArgModel):
    action: Annotated[Literal["reset"] | None, Field(title=N_("reset"))] = None


def calendar_url(ctx: Context, token: str) -> str:
    """Return the private feed's URL, on the address people reach the web server at."""
    base = ctx.settings.public_url or f"http://localhost:{ctx.settings.http_port}"
    return base.rstrip("/") + CALENDAR_PATH.format(token=token)


async def mycalendar(ctx: Context, args: CalendarArgs) -> Reply:
    """Give you a private calendar URL with your events and bookings; reset replaces it."""
    t = ctx.t
    reset = args.action == "reset"
    token = await home.calendar_token(ctx.session, ctx.member.id, now=ctx.now, reset=reset)
    if token is None:
        return Reply(
            text=t(
                "You already have a private calendar URL. I keep only a fingerprint of it, so I "
                "cannot show it again: a new one replaces it, and the old one stops working."
            ),
            buttons=((Button(label=t("Make a new URL"), command="/mycalendar reset"),),),
            private=True,
        )
    url = calendar_url(ctx, token)
    lines = [
        t("The old URL no longer works. Your new private calendar:")
        if reset
        else t("Your private calendar, with the events you go to and the desks you book:"),
        Markup("<code>{}</code>").format(url),
        t(
            "Add it by URL in Google Calendar (Other calendars → From URL), Outlook (Add "
            "calendar → Subscribe from web) or Apple Calendar (File → New Calendar Subscription)."
        ),
        t(
            "Anyone with this URL sees your calendar: keep it to yourself. /mycalendar reset replaces it."
        ),
    ]
    return Reply(text="\n".join(lines), private=True)


async def mydata(ctx: Context, _args: NoArgs) -> Reply:
    """Send you a file with everything I keep about you."""
    data = await home.export(ctx.session, ctx.router.members, ctx.member.id, ctx.now)
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False).encode()
    return Reply(
        text=ctx.t("Here is everything I keep about you, feature by feature. /forgetme erases it."),
        file=Attachment(
            filename="councilbot-my-data.json", content_type="application/json", data=body
        ),
        private=True,
    )


class ForgetArgs(ArgModel):
    answer: Annotated[Literal["yes", "no"] | None, Field(title=N_("yes|no"))] = None


async def forgetme(ctx: Context, args: ForgetArgs) -> Reply:
    """Erase everything I keep about you, after you confirm."""
    t = ctx.t
    if not ctx.command.chat.is_private:
        raise Conflict(N_("For your safety, send /forgetme to me in a private chat."))
    if args.answer == "no":
        return Reply(text=t("Nothing was erased."))
    if args.answer is None:
        return Reply(
            text="\n".join(
                (
                    t("<b>Erase everything I keep about you?</b>"),
                    t(
                        "Your accounts, name, language, roles, subscriptions, calendar URL and "
                        "direct messages are deleted; your RSVPs, bookings and votes stay only as "
                        "anonymous counts; what you published for a council stays, without your "
                        "name. This cannot be undone. /mydata first sends you a copy."
                    ),
                )
            ),
            buttons=(
                (
                    Button(label=t("Yes, erase me"), command="/forgetme yes"),
                    Button(label=t("No, keep everything"), command="/forgetme no"),
                ),
            ),
            private=True,
        )
    erasure = Erasure(
        ctx.session, ctx.member.id, ctx.now, ctx.router.catalogs, ctx.settings.default_language
    )
    await home.forget(ctx.router.members, erasure)
    return Reply(
        text=t(
            "Done: I erased everything I kept about you. If you write to me again, I will meet "
            "you as someone new."
        )
    )


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "me",
        me,
        N_("Show your home: your events, bookings, polls and subscriptions."),
        ME,
        personal=True,
    ),
    CommandSpec(
        "mycalendar",
        mycalendar,
        N_("Get a private calendar URL with your events and bookings."),
        ME,
        CalendarArgs,
        personal=True,
        details=N_("“reset” gives a new URL; the old one stops working."),
    ),
    CommandSpec(
        "mydata",
        mydata,
        N_("Get a file with everything I keep about you."),
        ME,
        personal=True,
    ),
    CommandSpec(
        "forgetme",
        forgetme,
        N_("Erase everything I keep about you."),
        ME,
        ForgetArgs,
        personal=True,
        details=N_("You are asked to confirm first; then it cannot be undone."),
    ),
)

FEATURE = Feature(
    "me",
    commands=COMMANDS,
    jobs=(JobKind(home.DIGEST_JOB, run=home.send_digests, missed=home.send_digests),),
    topic=Topic(home.DIGEST_TOPIC, N_("the weekly digest"), subscribed=home.ensure_digest_job),
    # The end of every member's home: their subscriptions and linked accounts.
    member=MemberData(home=members.settings_sections),
)

"""What every command that broadcasts shares: the preview a coordinator sees before Send.

A feature's command (`/announce`, later `/newevent`, `/poll`, `/publish`) stores its item as
a draft and answers with `preview(...)`: the message as its readers will get it, who it
reaches and when, and Send / Edit / Cancel buttons that run the feature's own
sub-commands (`/<command> send|edit|cancel <id>`). Nothing is queued until Send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from councilbot.core.formatting import format_when
from councilbot.core.i18n import N_
from councilbot.core.messages import Button, Reply
from councilbot.core.router import Context
from councilbot.db.models import Council
from councilbot.services.broadcast import Audience

SEND = N_("Send")
EDIT = N_("Edit")
CANCEL = N_("Cancel")


def preview(
    ctx: Context,
    *,
    command: str,
    item_id: int,
    summary: str,
    rendered: str,
    reached: Audience,
    councils: Sequence[Council],
    at: datetime | None,
    zone: ZoneInfo,
    notes: Sequence[Markup] = (),
) -> Reply:
    """Show a draft broadcast to its author with Send, Edit and Cancel.

    `summary` is the feature's msgid, with the placeholders {id}, {chats}, {subscribers},
    {places} and {when} ("Preview of announcement #{id}: it goes to {chats} and ...").
    `at` is when it goes out (None: on Send), shown in `zone` with the zone named.
    """
    t = ctx.t
    when = (
        t("now")
        if at is None
        else t("on {when}", when=format_when(at, zone, ctx.lang, now=ctx.now))
    )
    lines = [
        *notes,
        Markup(rendered),
        Markup(""),
        t(
            summary,
            id=item_id,
            chats=t.plural("{count} chat", "{count} chats", reached.chats),
            subscribers=t.plural("{count} subscriber", "{count} subscribers", reached.subscribers),
            places=", ".join(c.city for c in councils),
            when=when,
        ),
    ]
    if not reached.recipients:
        lines.append(
            t(
                "No chat is linked to {councils} and nobody subscribed, so nobody would get it.",
                councils=", ".join(c.name for c in councils),
            )
        )
    buttons = (
        (
            Button(label=t(SEND), command=f"/{command} send {item_id}"),
            Button(label=t(EDIT), command=f"/{command} edit {item_id}"),
            Button(label=t(CANCEL), command=f"/{command} cancel {item_id}"),
        ),
    )
    # For the author's eyes: Slack shows it to them alone, Telegram in their private chat.
    return Reply(text=Markup("\n").join(lines), buttons=buttons, private=True)

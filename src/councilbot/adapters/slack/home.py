"""The Slack App Home tab: a member's /me, as Block Kit, published with views.publish.

Published when the member opens the tab (`app_home_opened`, see app.py) and when something
in it changes: features call services.home.home_changed, which queues a `home` outbox row
that delivery.SlackTarget turns into a publish, rendered here at that moment.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from councilbot.adapters.slack.render import blocks_for
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform, Reply
from councilbot.core.router import Router

BLOCKS_LIMIT = 100  # a Home tab holds at most 100 blocks


def slack_mentions(router: Router, command: str = "/council") -> re.Pattern[str]:
    """Match the commands a reply mentions (`/help`, not `https://example.org/help`)."""
    names = sorted(
        {name for spec in router.visible_specs() for name in (spec.name, *spec.aliases)},
        key=len,
        reverse=True,
    )
    return re.compile(r"(?<![\w/.:@-])/(" + "|".join(map(re.escape, names)) + r")(?![\w-])")


class HomeTab:
    """Render members' Home tabs through the router's /me, as Slack users type commands."""

    def __init__(self, router: Router, command: str = "/council") -> None:
        self.router = router
        self._mentions = slack_mentions(router, command)
        self._slash = rf"{command} \1"

    async def view(self, workspace: str, user_id: str) -> dict[str, Any]:
        """Return the Home tab view of a Slack user (their /me, in their language)."""
        sender = Identity(platform=Platform.SLACK, user_id=user_id, workspace=workspace)
        chat = Chat(
            platform=Platform.SLACK, chat_id=user_id, workspace=workspace, kind=ChatKind.PRIVATE
        )
        reply = await self.router.handle(
            Command(name="me", sender=sender, chat=chat, received_at=datetime.now(UTC))
        )
        return home_view(
            reply.model_copy(update={"text": self._mentions.sub(self._slash, reply.text)})
        )


def home_view(reply: Reply) -> dict[str, Any]:
    """Build a Home tab view from a reply's text and buttons."""
    return {"type": "home", "blocks": blocks_for(reply.text, reply.buttons)[:BLOCKS_LIMIT]}

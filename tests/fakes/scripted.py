"""A router double for adapter tests: the real router, but every command gets one reply.

Adapters render whatever a command returns; this lets their tests send replies that no
command produces yet (files, long texts, private answers) through the real platform code.
"""

from __future__ import annotations

from typing import Any

from councilbot.core.messages import Command, Reply
from councilbot.core.router import Router


class Scripted:
    """The real router, except that every command gets the same reply."""

    def __init__(self, router: Router, reply: Reply) -> None:
        self._router = router
        self.reply = reply
        self.commands: list[Command] = []
        self.crashes = 0  # how many of the next commands raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._router, name)

    async def handle(self, command: Command) -> Reply:
        self.commands.append(command)
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("a bug in a handler")
        return self.reply

"""The console chat: a terminal adapter using the same router and services as every platform.

Interactive with a prompt on a terminal; otherwise it reads one message per line and
prints every reply, so conversations can be scripted:

    alice@malaga-chat: /events      # alice speaks in the chat "malaga-chat"
    bob: /whoami                    # bob speaks in the default chat
    you@dm: /linkaccount            # "dm" is your private chat with the bot
    2                               # presses button 2 of the last reply
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TextIO

from markupsafe import escape

from councilbot.core.grammar import split_command
from councilbot.core.messages import Button, Chat, ChatKind, Command, Identity, Platform, Reply
from councilbot.core.router import Router
from councilbot.delivery.targets import Outgoing
from councilbot.services import councils, members

PRIVATE_CHAT = "dm"
_SPEAKER = re.compile(r"^(?P<user>[\w.\-]+)(?:@(?P<chat>[\w.\-]+))?:\s*(?P<text>.*)$", re.DOTALL)


class _PlainText(HTMLParser):
    """Turn the bot's safe markup into terminal text."""

    def __init__(self, *, bold: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._bold = bold
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "b" and self._bold:
            self.parts.append("\033[1m")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "b" and self._bold:
            self.parts.append("\033[0m")
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def render(reply: Reply, *, bold: bool = False) -> str:
    """Render a reply as terminal text, with its buttons numbered."""
    parser = _PlainText(bold=bold)
    parser.feed(reply.text)
    parser.close()
    text = "".join(parser.parts)
    buttons = reply.button_list
    if buttons:
        text += "\n" + "  ".join(
            f"[{n}] {b.label} ({b.url})" if b.url else f"[{n}] {b.label}"
            for n, b in enumerate(buttons, 1)
        )
    if reply.file is not None:
        text += f"\n(file: {reply.file.filename}, {len(reply.file.data)} bytes)"
    return text


class ConsoleTarget:
    """Deliver outbox messages to the terminal, so announcements show up in the console chat."""

    platform = Platform.CONSOLE
    delete_window: timedelta | None = None

    def __init__(self, stdout: TextIO | None = None, *, bold: bool = False) -> None:
        self._stdout = stdout
        self._bold = bold
        self._count = 0
        # The buttons of the latest message delivered to each console chat (by the name the
        # console shows: "dm:bob" or "cork-chat"), so that a number typed there presses them.
        self.posted: dict[str, Pressable] = {}

    async def deliver(self, message: Outgoing) -> str | None:
        """Print the message with the chat it is for."""
        self._count += 1
        body = self._body(message)
        if message.image_url:
            body += f"\n(picture: {message.image_url})"
        if message.file is not None:
            body += f"\n(file: {message.file.filename}, {message.file.size} bytes)"
        self._write(f"[to {_chat(message)}] {body}")
        self.posted[_chat(message)] = Pressable(
            str(self._count), [b for row in message.buttons for b in row]
        )
        return str(self._count)

    async def edit(self, message: Outgoing, message_id: str) -> None:
        """Print a message's new text, with the chat and the number of the message it replaces."""
        body = self._body(message)
        if message.image_url:
            body += f"\n(picture: {message.image_url})"
        self._write(f"[edited in {_chat(message)}, message {message_id}] {body}")
        latest = self.posted.get(_chat(message))
        if latest is not None and latest.message_id == message_id:
            self.posted[_chat(message)] = Pressable(
                message_id, [b for row in message.buttons for b in row], latest.at
            )

    async def delete(self, message: Outgoing, message_id: str) -> None:
        """Print that a message was deleted."""
        self._write(f"[deleted in {_chat(message)}: message {message_id}]")

    def _body(self, message: Outgoing) -> str:
        """Render a message's text and buttons as terminal text."""
        return render(Reply(text=message.text, buttons=message.buttons), bold=self._bold)

    def _write(self, line: str) -> None:
        out = self._stdout or sys.stdout
        out.write(f"{line}\n\n")
        out.flush()


def _chat(message: Outgoing) -> str:
    """Name a message's chat as the console shows it (a private chat by its person)."""
    private = message.chat_kind is ChatKind.PRIVATE  # the outbox names it by the user
    return f"{PRIVATE_CHAT}:{message.chat_id}" if private else message.chat_id


@dataclass(frozen=True, slots=True)
class Pressable:
    """The buttons a number typed in a console chat presses, and when they were shown."""

    message_id: str | None
    buttons: list[Button]
    at: int = field(default_factory=time.monotonic_ns)


@dataclass(slots=True)
class ConsoleChat:
    """Run a terminal conversation through the router."""

    router: Router
    user: str = "you"
    chat: str = "malaga-chat"
    council: str = "malaga"
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # At a terminal: a prompt, bold text, and a note when a group stays quiet.
    interactive: bool = False
    # Messages the outbox delivered to console chats: their buttons can be pressed too.
    target: ConsoleTarget | None = None
    # In a script, waits until what the last line queued has been delivered, so that a
    # number on the next line can press the buttons of a post or a direct message.
    settle: Callable[[], Awaitable[None]] | None = None
    _buttons: dict[tuple[str, str], Pressable] = field(default_factory=dict)

    async def setup(self) -> None:
        """Make sure the default chat is linked to the chosen council."""
        async with self.router.sessionmaker() as session, session.begin():
            chat = self._chat(self.chat, self.user)
            if await members.find_channel(session, chat) is None:
                council = await councils.get_council(session, self.council)
                await councils.link_channel(session, chat, None, council, by=None, now=self.clock())

    def _chat(self, name: str, user: str) -> Chat:
        if name == PRIVATE_CHAT:
            return Chat(
                platform=Platform.CONSOLE,
                chat_id=f"{PRIVATE_CHAT}:{user}",
                kind=ChatKind.PRIVATE,
                title=user,
            )
        return Chat(platform=Platform.CONSOLE, chat_id=name, kind=ChatKind.GROUP, title=name)

    async def say(self, line: str) -> Reply | None:
        """Handle one typed line and return the reply (None: none, as in a group in a script)."""
        line = line.strip()
        if not line:
            return None
        user, chat_name, text = self.user, self.chat, line
        match = _SPEAKER.match(line)
        if match:
            user = match["user"]
            chat_name = match["chat"] or self.chat
            text = match["text"].strip()
        key = (user, chat_name)
        sender = Identity(platform=Platform.CONSOLE, user_id=user, username=user, display_name=user)
        chat = self._chat(chat_name, user)
        if text.isdecimal():
            pressed = self._pressable(key, chat)
            index = int(text) - 1
            if not 0 <= index < len(pressed):
                t = await self.router.translator_for(sender, chat)
                if not pressed:
                    return Reply(
                        text=t(
                            "There is no button {number}: my last message here had no buttons.",
                            number=text,
                        )
                    )
                return Reply(
                    text=t.plural(
                        "There is no button {number}: my last message has {count} button.",
                        "There is no button {number}: my last message has {count} buttons.",
                        len(pressed),
                        number=text,
                    )
                )
            if pressed[index].url:  # a link button: a terminal can only show the address
                return Reply(text=escape(pressed[index].url))
            text = pressed[index].command
        if not text.startswith("/"):
            answer = await self.router.handle_text(sender, chat)
            if answer is None and self.interactive and not chat.is_private:
                # The router keeps quiet in groups; at a terminal, silence looks broken.
                t = await self.router.translator_for(sender, chat)
                return Reply(
                    text=t(
                        "(Not a command: in a group I stay quiet. "
                        "Commands start with /; /help lists them.)"
                    )
                )
            return answer
        name, args = split_command(text)
        command = Command(name=name, args=args, sender=sender, chat=chat, received_at=self.clock())
        reply = await self.router.handle(command)
        self._buttons[key] = Pressable(None, reply.button_list)
        return reply

    def _pressable(self, key: tuple[str, str], chat: Chat) -> list[Button]:
        """Return the buttons of the latest message this person saw here: the bot's reply to
        them, or a message delivered to this chat since (a post, a reminder, a request)."""
        shown = [self._buttons.get(key)]
        if self.target is not None:
            shown.append(self.target.posted.get(chat.chat_id))
        latest = max((s for s in shown if s is not None), key=lambda s: s.at, default=None)
        return latest.buttons if latest is not None else []

    async def run(self) -> None:
        """Converse until end of input."""
        await self.setup()
        if self.interactive:
            t = self.router.translator()
            welcome = t(
                "CouncilBot console: you are {user} in {chat}. Type /help, or Ctrl-D to leave.",
                user=self.user,
                chat=self.chat,
            )
            self._print(render(Reply(text=welcome)))
        while True:
            if self.interactive:
                try:
                    line = await asyncio.to_thread(input, f"{self.user}@{self.chat}> ")
                except EOFError:
                    self._print("")
                    return
            else:
                if self.settle is not None:
                    await self.settle()
                line = await asyncio.to_thread(self.stdin.readline)
                if not line:
                    return
            reply = await self.say(line)
            if reply is not None:
                self._print(render(reply, bold=self.interactive) + "\n")

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

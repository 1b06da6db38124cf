"""Property: whatever anyone types, the bot answers and nothing raises."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from councilbot.app import build_app
from councilbot.core.messages import Reply
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import Settings
from tests.conftest import SEED_FILE, START, Bot, Clock

COMMAND_WORDS = [
    "/start", "/help", "/councils", "/link", "/unlink", "/lang", "/whoami",
    "/linkaccount", "/subscribe", "/unsubscribe", "/coordinator", "/events", "/",
]  # fmt: skip
WORDS = st.sampled_from(
    ["all", "cork", "malaga", "add", "remove", "events", "chat", "es", "auto", "--at",
     "--x", '"', "“", "«", "tomorrow", "03/12", "#1", "@you", "console:you", "\n", "0"]
)  # fmt: skip
LINES = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda head, words, tail: " ".join([head, *words]) + tail,
        st.sampled_from(COMMAND_WORDS),
        st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=6),
        st.text(max_size=10),
    ),
)
SPEAKERS = st.sampled_from(["", "admin: ", "bob@dm: ", "eve@cork-chat: ", "zed@other: "])


@pytest.fixture
def running_bot(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[asyncio.Runner, Bot]]:
    """A bot on its own event loop, so that hypothesis can drive it from a sync test."""
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    with asyncio.Runner() as runner:

        async def build() -> Bot:
            engine = create_engine(url)
            async with create_sessionmaker(engine)() as session, session.begin():
                await seed_councils(session, read_seed_file(SEED_FILE), now=START)
            app = await build_app(Settings(database_url=url, admins="console:admin"), engine=engine)
            bot = Bot(app, Clock())
            await bot.console.setup()
            return bot

        bot = runner.run(build())
        yield runner, bot
        runner.run(bot.app.aclose())


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(speaker=SPEAKERS, line=LINES)
def test_every_input_gets_a_reply(
    running_bot: tuple[asyncio.Runner, Bot],
    caplog: pytest.LogCaptureFixture,
    speaker: str,
    line: str,
) -> None:
    runner, bot = running_bot
    caplog.set_level(logging.ERROR, logger="councilbot")
    caplog.clear()
    reply = runner.run(bot.console.say(speaker + line))
    typed = line.strip()
    if typed.startswith("/") or typed.isdecimal():  # a command or a button press
        assert isinstance(reply, Reply) and reply.text
    elif reply is not None:  # plain text: quiet in a group, a hint in a private chat
        assert reply.text == "I only understand commands. Send /help to see them."
    # The router turns crashes into an apology; none may happen for typed input.
    assert not caplog.records, [r.getMessage() for r in caplog.records]

"""One log line per command, and nothing people wrote in any log line, through the real router."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Bot
from tests.unit.test_logsafe import Configure
from tests.unit.test_logsafe import configure as configure  # the fixture

# Distinctive enough that finding it nowhere in the logs means something.
PHRASE = "Zebra-Quartz-Whisper-4417"


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Parse the JSON lines written so far; every line must be one."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _command_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "outcome" in line]


async def test_each_command_logs_one_line_with_its_outcome_and_id(
    bot: Bot, configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    from councilbot.services import councils

    stream = io.StringIO()
    configure("INFO", {}, "json", stream)
    await bot("/councils")
    await bot("dave: /link paris")
    await bot("/lang tr me extra")
    await bot("/frobnicate")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(councils, "set_channel_language", broken)
    apology = await bot("/lang tr chat")

    lines = _lines(stream)
    commands = _command_lines(lines)
    assert [(line["command"], line["outcome"]) for line in commands] == [
        ("councils", "ok"),
        ("link", "refused"),
        ("lang", "invalid"),
        ("(unknown)", "unknown"),  # what was typed is not logged
        ("lang", "error"),
    ]
    for line in commands:
        assert line["level"] == "INFO" and line["logger"] == "councilbot.core.router"
        assert line["platform"] == "console"
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
        assert re.fullmatch(r"[0-9a-f]{8}", line["correlation_id"])
        assert line["message"] == (
            f"/{line['command']} on console: {line['outcome']} in {line['duration_ms']} ms"
        )
    assert len({line["correlation_id"] for line in commands}) == len(commands)
    # The crash is logged with the command's id, and the user is given it as the code.
    incident = commands[-1]["correlation_id"]
    [crash] = [line for line in lines if "traceback" in line]
    assert crash["correlation_id"] == incident
    assert crash["message"] == f"command /lang failed (incident {incident})"
    assert "RuntimeError: disk on fire" in crash["traceback"]
    assert apology.endswith(f"tell a coordinator the code {incident}.")


async def test_nothing_people_write_reaches_the_logs_even_in_debug(
    bot: Bot, configure: Configure
) -> None:
    stream = io.StringIO()
    configure("DEBUG", {}, "json", stream)
    said = [
        f"bob@dm: {PHRASE} is my password",  # a direct message that is not a command
        f"bob@dm: /help {PHRASE}",  # arguments the bot does not understand
        f"/whoami {PHRASE}",
        f"/announce cork {PHRASE} tonight --yes",  # stored, queued and delivered
        f"/coordinator add @{PHRASE} cork",
        f"dave: /announce cork {PHRASE}",  # refused
        f"/{PHRASE}",  # no such command: the name typed is what someone wrote too
    ]
    for line in said:
        await bot(line)
    await bot.app.dispatcher.run_until_idle()
    assert PHRASE.lower() not in stream.getvalue().lower()
    assert [line["command"] for line in _command_lines(_lines(stream))] == [
        "help",
        "whoami",
        "announce",
        "coordinator",
        "announce",
        "(unknown)",
    ]


async def test_a_failed_statement_does_not_quote_what_people_wrote(engine: AsyncEngine) -> None:
    """A crash's traceback is logged; the database error in it must not carry the text."""
    with pytest.raises(DBAPIError) as failure:
        async with engine.begin() as conn:  # no name: the councils' NOT NULL refuses it
            await conn.execute(text("INSERT INTO councils (slug) VALUES (:slug)"), {"slug": PHRASE})
    message = str(failure.value)
    assert "INSERT INTO councils" in message
    assert "[SQL parameters hidden" in message
    if engine.dialect.name == "sqlite":  # PostgreSQL's own DETAIL may quote a failing row
        assert PHRASE not in message

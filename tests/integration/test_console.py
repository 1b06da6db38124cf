"""The console chat in script mode, through the real `councilbot` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleChat, render
from councilbot.app import build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Button, Reply
from councilbot.db.models import Channel
from councilbot.db.session import alembic_config
from councilbot.settings import Settings
from tests.conftest import Bot, Clock

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def councilbot(*args: str, db: Path, stdin: str = "", env: dict | None = None):
    environment = {
        **os.environ,
        "COUNCILBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "COUNCILBOT_ADMINS": "",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "councilbot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_script_mode_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    assert councilbot("db", "upgrade", db=db).returncode == 0
    seeded = councilbot("seed", db=db)
    assert seeded.stdout.strip() == (
        "councils: 6 created, 0 updated, 0 unchanged\n"
        "facilities: 8 created or updated; desks: 55 added, 0 retired\n"
        "magazine: issue #4 added"
    )
    script = "\n".join(
        [
            "/lang en",
            "/councils",
            "",
            "bob@dm: /start",
            "bob@dm: 3",
            "bob: /link cork",
            "/coordinator add bob cork",
            "bob@dm: 9",
        ]
    )
    result = councilbot("chat", "--council", "paris", db=db, stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    replies = result.stdout.strip().split("\n\n")
    assert replies[0] == "From now on I speak to you in English."
    assert "— Paris / Évry ◀" in replies[1]
    assert (
        "[1] Madrid council  [2] Emilia-Romagna council  [3] Southern Ireland council"
        in (replies[2])
    )
    assert "Your home council is now Southern Ireland council (MTU)." in replies[3]
    # bob chose no language and speaks in the Paris chat: he is answered in French.
    french = Catalogs.load().translator("fr")
    assert replies[4] == french(
        "Only coordinators of {council} (or admins) can do that.",
        council="Southern Ireland council (MTU)",
    )
    assert replies[5] == "bob is now a coordinator of Southern Ireland council (MTU)."
    assert replies[6] == "There is no button 9: my last message here had no buttons."
    assert "Traceback" not in result.stderr


def test_a_script_presses_the_buttons_of_a_post_and_of_a_direct_message(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    assert councilbot("db", "upgrade", db=db).returncode == 0
    assert councilbot("seed", db=db).returncode == 0
    script = [
        "bob@dm: /start cork",
        "/coordinator add bob cork",
        'bob@cork-chat: /newevent "Dinner" 2030-12-10 19:00-22:00 cap 2 --approval --yes',
        "carol@cork-chat: 1",  # Going, on the post in the group
        "bob@dm: 1",  # Approve, on the request sent to bob's direct messages
    ]
    result = councilbot("chat", "--council", "cork", db=db, stdin="\n".join(script) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "carol asks to come to Dinner (E1)" in out
    assert "Approved: carol is going to E1; they are told." in out
    assert "[to dm:carol] Your request was approved" in out


@pytest.mark.parametrize("action", [("chat",), ("run",), ("seed",)])
def test_an_empty_database_names_the_setup_command_and_leaves_no_file(
    tmp_path: Path, action: tuple[str, ...]
) -> None:
    db = tmp_path / "empty.db"
    result = councilbot(*action, db=db)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"councilbot: there is no CouncilBot database at {db} yet; "
        "create it and load the councils with `councilbot db upgrade && councilbot seed`"
    )
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []  # no -wal or -shm either


def test_a_database_behind_the_code_asks_for_an_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    first = scripts.get_revision(head).down_revision
    assert councilbot("db", "upgrade", first, db=db).returncode == 0
    result = councilbot("chat", db=db)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"councilbot: the database schema is at {first} but this version needs {head}; "
        "run `councilbot db upgrade` (`make run` does it for you)"
    )


def test_a_database_in_a_missing_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "bot.db"
    result = councilbot("db", "upgrade", db=db)
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"councilbot: cannot create the database {db}: the folder {db.parent} does not exist\n",
    )
    # Nothing else creates the file; each says what is missing in one line.
    for action in (("db", "current"), ("seed",), ("chat",), ("db", "backup", f"{tmp_path}/b.db")):
        result = councilbot(*action, db=db)
        assert len(result.stderr.splitlines()) <= 1, result.stderr
    assert list(tmp_path.iterdir()) == []
    backup = tmp_path / "backup.db"
    assert councilbot("db", "upgrade", db=backup).returncode == 0
    result = councilbot("db", "restore", str(backup), db=db)
    assert (result.returncode, result.stderr) == (
        2,
        f"councilbot: cannot write {db}: the folder {db.parent} does not exist\n",
    )


def test_a_folder_or_a_text_file_in_place_of_the_database_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    for action in (("db", "upgrade"), ("db", "current"), ("seed",)):
        result = councilbot(*action, db=tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (
            2,
            "",
            f"councilbot: {tmp_path} is a folder, not a database file\n",
        )
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    for action in (("db", "upgrade"), ("db", "current"), ("seed",)):
        result = councilbot(*action, db=text)
        assert (result.returncode, result.stdout, result.stderr) == (
            2,
            "",
            "councilbot: cannot use the database (file is not a database)\n",
        )


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    first = scripts.get_revision(head).down_revision
    db = tmp_path / "bot.db"
    outputs = [
        councilbot(*action, db=db).stdout
        for action in (
            ("db", "upgrade", first),
            ("db", "current"),
            ("db", "upgrade"),
            ("db", "upgrade"),
            ("db", "upgrade", first),
        )
    ]
    assert outputs == [
        f"database schema created at {first} (head is {head})\n",
        f"database schema at {first}: behind (head is {head})\n",
        f"database schema upgraded from {first} to {head}\n",
        f"database schema at {head}: up to date\n",
        f"database schema at {head}: up to date\n",  # an upgrade never goes back
    ]
    assert councilbot("db", "upgrade", db=tmp_path / "new.db").stdout == (
        f"database schema created at {head}\n"
    )
    result = councilbot("db", "upgrade", "nonsense", db=db)
    assert (result.returncode, result.stderr) == (
        2,
        "councilbot: cannot upgrade to nonsense: Can't locate revision identified by 'nonsense'\n",
    )


def test_an_unseeded_database_names_the_seed_command(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    assert councilbot("db", "upgrade", db=db).returncode == 0
    result = councilbot("chat", db=db, stdin="/councils\n")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "councilbot: There are no councils yet: whoever runs the bot loads them with "
        "councilbot seed."
    )


def test_run_without_tokens_opens_the_console(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    councilbot("db", "upgrade", db=db)
    councilbot("seed", db=db)
    result = councilbot("run", db=db, stdin="/whoami\n")
    assert result.returncode == 0, result.stderr
    # The default chat is Málaga's, whose language is Spanish.
    spanish = Catalogs.load().translator("es")
    expected = render(Reply(text=spanish("<b>{name}</b> (member #{id})", name="you", id=1)))
    assert result.stdout.startswith(expected + "\n")


def test_render_numbers_buttons_and_strips_markup() -> None:
    reply = Reply(
        text='<b>Tom &amp; Jerry</b> see <a href="https://example.org">this</a>',
        buttons=((Button(label="Yes", command="/rsvp 1"), Button(label="No", command="/x")),),
    )
    assert render(reply) == "Tom & Jerry see this (https://example.org)\n[1] Yes  [2] No"


async def test_pressing_a_button_runs_its_command(bot: Bot) -> None:
    await bot("/lang")
    assert await bot("4") == bot.app.catalogs.translator("fr")(
        "From now on I speak to you in {language}.", language="français"
    )


async def test_speakers_and_chats_are_separate(bot: Bot) -> None:
    await bot("ann@dm: /lang")
    # Bob has no buttons of his own, so his "1" presses nothing.
    assert await bot("bob@dm: 1") == "There is no button 1: my last message here had no buttons."


async def test_link_and_councils_on_an_unseeded_database_name_the_seed_command(
    engine: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> None:
    settings = Settings(database_url=database_url, admins="console:admin", default_language="en")
    app = await build_app(settings, engine=engine, catalogs=catalogs, clock=clock)
    try:
        console = ConsoleChat(app.router, user="admin", chat="new-chat", clock=clock)
        expected = (
            "There are no councils yet: whoever runs the bot loads them with councilbot seed."
        )
        for line in ("/link malaga", "/councils", "admin@dm: /start"):
            reply = await console.say(line)
            assert reply is not None
            assert render(reply) == expected
        async with app.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Channel)) == 0
    finally:
        await app.aclose()


async def test_plain_text_gets_a_hint_in_private_and_silence_in_groups(
    bot: Bot, clock: Clock
) -> None:
    hint = "I only understand commands. Send /help to see them."
    assert await bot.console.say("hello there") is None  # the default chat is a group
    assert await bot.console.say("ann@cork-chat: hello there") is None
    assert await bot("ann@dm: hello there") == hint
    # Once is enough: the next messages within ten minutes get no answer...
    assert await bot.console.say("ann@dm: are you there?") is None
    assert await bot("bob@dm: hi") == hint  # ...but every private chat gets its own hint
    clock.advance(minutes=10)
    assert await bot("ann@dm: hello again") == hint
    # Commands are answered as ever, whoever speaks.
    assert (await bot("ann@dm: /whoami")).startswith("ann (member #")


async def test_at_a_terminal_the_console_says_why_a_group_stays_quiet(
    bot: Bot, clock: Clock
) -> None:
    console = ConsoleChat(
        bot.app.router,
        user="admin",
        chat="cork-chat",
        council="cork",
        clock=clock,
        interactive=True,
    )
    note = "(Not a command: in a group I stay quiet. Commands start with /; /help lists them.)"
    assert render(await console.say("hello there")) == note
    assert render(await console.say("ann@cork-chat: hello again")) == note  # every line
    # A private chat keeps the router's rule: one hint, then quiet for a while.
    assert render(await console.say("ann@dm: hello")) == (
        "I only understand commands. Send /help to see them."
    )
    assert await console.say("ann@dm: still there?") is None
    # In the speaker's language.
    await console.say("ann@dm: /lang es")
    assert render(await console.say("ann@cork-chat: hola")) == (
        "(No es un comando: en un grupo me quedo en silencio. Los comandos empiezan por /; "
        "/help los muestra.)"
    )
    # Commands are answered as ever; in a script the group stays silent.
    assert render(await console.say("/lang en")).startswith("From now on I speak")
    assert await bot.console.say("hello there") is None


def test_plain_text_in_a_script(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    councilbot("db", "upgrade", db=db)
    councilbot("seed", db=db)
    script = "hello there\nbob@dm: hello there\n/lang en\n"
    result = councilbot("chat", "--council", "cork", db=db, stdin=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n\n")[:2] == [
        "I only understand commands. Send /help to see them.",
        "From now on I speak to you in English.",
    ]

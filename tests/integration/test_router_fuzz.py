"""Fuzz: whatever anyone types, to any command, on any platform, the bot answers and nothing raises.

The commands come from the app's own table, so every command, present and future, is fed
hostile arguments (markup, 10,000 characters, RTL marks, emoji, combining marks, NUL,
broken and typographic quotes, dashes, repeated councils, other people's ids, huge
numbers) by a member, a coordinator and an admin, on the console and through the real
python-telegram-bot and slack-bolt apps against the fake platform servers. A crash shows
as the router's apology (in any language) or as an error or traceback on the root logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import shutil
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.telegram.app import TelegramAdapter
from councilbot.app import App, build_app, command_specs
from councilbot.core.grammar import ArgModel, fields_of
from councilbot.core.i18n import LANGUAGES, Catalogs
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform, Reply
from councilbot.core.router import FAILED, CommandSpec, Role
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import Settings
from tests.adapters.slack.test_slack_adapter import SECRET as SLACK_SECRET
from tests.adapters.slack.test_slack_adapter import TOKEN as SLACK_TOKEN
from tests.adapters.slack.test_slack_adapter import signed, slash
from tests.adapters.telegram.test_telegram_adapter import GROUP
from tests.adapters.telegram.test_telegram_adapter import payload as telegram_payload
from tests.conftest import SEED_FILE, START, Bot, Clock
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

SPECS = command_specs()
HUGE = "x" * 10_000
# Each value, in each free argument of each command, on the console; those marked for
# the adapters (markup, size, unicode, quotes, lines, dashes) on Telegram and Slack too.
ADAPTER_VALUES = [
    "<b>", "</i>", "<b>bold</b> & <i>", "&amp;lt;", "<script>alert(1)</script>",
    "*bold* _it_ ~s~ `code` <!channel> <@U_ADMIN>",
    HUGE, "word " * 2_000,
    "\u200f\u202eRTL\u202c", "👩\u200d👩\u200d👧\u200d👦🏳️\u200d🌈", "e\u0301\u0302\u0303", "²",
    "nul\x00byte", "\ufeffbom", "𝕔𝕠𝕣𝕜",
    '"unclosed text', "“typographic”", "„low“ «guillemets»", '"x" trailing words',
    "first\nsecond", "—at tomorrow 09:00", "–at 09:00",
]  # fmt: skip
CONSOLE_VALUES = [
    "&", "\x00", "İSTANBUL", "\u3000", "٣", "１２",
    '"', "'single'", '"a" "b"', '""', "“",
    "−at now", "--at", "-- at tomorrow", "—", "--at --at", "--unknown x",
    "cork,cork", "cork, cork", "cork,CORK", "cork,,malaga", ",", "all,all", "cork,all",
    "cork, malaga", "cork malaga",
    "#1", "#0", "#-1", "#99999999999999999999", "@ana", "console:admin", "console:bob",
    "telegram:111", "slack:U_ADMIN", "slack:", ":",
    "-1", "0", "99999999999999999999", "1e999", "3.5", "NaN",
    "2027-03-28 02:30", "31/02", "25:61", "9999-12-31 23:59", "yesterday",
]  # fmt: skip
# Values a person would plausibly write, around the hostile one, so that it reaches deeper:
# mostly a valid one for the argument's title, else any.
PLAUSIBLE = ["cork", "malaga", "all", "Cork", "es", "auto", "#1", '"Hello all"', "1", "2"]
VALID = {
    "council": "cork",
    "councils": "cork",
    "user": "console:bob",
    "text": '"Hello all"',
    "id": "1",
    "command": "announce",
    "language": "es",
}
DASHES = ["--", "—", "–", "−"]


def keywords(spec: CommandSpec) -> list[str]:
    """Return the words a command's usage line advertises (sub-commands, choices, flags)."""
    raw = spec.usage_text or spec.usage()
    if spec.usage_text:
        placeholders = set(re.findall(r"\{(\w+)\}", raw))
    else:
        placeholders = {word for p in re.findall(r"<([^<>]+)>", raw) for word in p.split()}
    words = dict.fromkeys(re.findall(r"[a-z]+", raw))
    return [w for w in words if w not in placeholders and w != spec.name]


def hostile_lines(spec: CommandSpec, values: list[str], *, every_slot: bool) -> list[str]:
    """Return a fixed list of lines for one command: bare, then each value in its arguments.

    Arguments with choices get one of them (or a word of the usage line); each value goes
    into every other argument in turn (or the last only), among plausible neighbours. A
    command with several forms gets the lines of each form (`/coordinator add ...`).
    """
    rng = random.Random(spec.name)  # the same lines on every run
    pool = [*keywords(spec), *PLAUSIBLE]
    forms = [] if spec.handler is None else [(f"/{spec.name}", spec.args)]
    forms += [(f"/{spec.name} {sub.name}", sub.args) for sub in spec.subcommands]
    lines = [f"/{spec.name}"]
    for head, model in forms:
        lines += _form_lines(head, model, values, rng, pool, every_slot=every_slot)
    return list(dict.fromkeys(lines))


def _form_lines(
    head: str,
    model: type[ArgModel],
    values: list[str],
    rng: random.Random,
    pool: list[str],
    *,
    every_slot: bool,
) -> list[str]:
    """Return the lines of one form of a command (see hostile_lines)."""
    fields = fields_of(model)
    positional = [f for f in fields if not f.flag]
    free = [i for i, f in enumerate(positional) if not f.choices] or [len(positional)]
    flags = [f for f in fields if f.flag]
    lines = [head]
    for value in values:
        for slot in free if every_slot else free[-1:]:
            parts = [head]
            for index, field in enumerate(positional):
                if index == slot:
                    parts.append(value)
                elif index < slot or rng.random() < 0.7:  # later optional ones may be left out
                    valid = VALID.get(str(field.info.title), rng.choice(pool))
                    parts.append(rng.choice(field.choices or [valid, valid, rng.choice(pool)]))
            if slot == len(positional):  # a command without arguments: extra words
                parts.append(value)
            for flag in flags:
                if rng.random() < 0.3:
                    when = rng.choice(["tomorrow 09:00", "now", "31/02 25:00"])
                    parts.append(f"{rng.choice(DASHES)}{flag.name.replace('_', '-')} {when}")
            lines.append(" ".join(parts))
    return lines


def apologies(catalogs: Catalogs) -> list[str]:
    """Return the start of the crash apology in every language."""
    return [
        catalogs.translator(lang)(FAILED, incident="@").split("@")[0][:24]
        for lang in ("en", *LANGUAGES)
    ]


@dataclass(frozen=True, slots=True)
class Person:
    """One speaker: their console name, Telegram user and Slack user."""

    console: str
    telegram: int
    slack: str
    name: str
    role: Role

    def identity(self, platform: Platform) -> Identity:
        """Return who this person is on one platform."""
        user_id = {
            Platform.CONSOLE: self.console,
            Platform.TELEGRAM: str(self.telegram),
            Platform.SLACK: self.slack,
        }[platform]
        workspace = TEAM_ID if platform is Platform.SLACK else ""
        return Identity(platform=platform, workspace=workspace, user_id=user_id)


ADMIN = Person("admin", 111, "U_ADMIN", "Ana", Role.ADMIN)  # the bootstrap admins below
COORDINATOR = Person("carol", 333, "U0CAROL", "Carol", Role.COORDINATOR)  # of Cork
MEMBER = Person("bob", 222, "U0BOB", "Bob", Role.MEMBER)
PEOPLE = (MEMBER, COORDINATOR, ADMIN)
SLACK_CHANNEL = "C0CORK"
WEBHOOK_SECRET = "fuzz-webhook-secret"


class Transports:
    """One app on one database, spoken to through the console, Telegram and Slack."""

    def __init__(self, runner: asyncio.Runner, app: App, console: Bot) -> None:
        self.runner = runner
        self.app = app
        self.console = console
        self.telegram_api = FakeTelegramAPI()
        self.slack_api = FakeSlackAPI()
        self.telegram: TelegramAdapter | None = None
        self.slack: SlackAdapter | None = None
        self._update_id = 0
        # Speakers in a private chat who have had their one hint (the clock never moves on).
        self.hinted: set[str] = set()

    async def start(self) -> None:
        """Start the fake servers and the adapters (Telegram by webhook), and meet everyone."""
        await self.telegram_api.start()
        await self.slack_api.start()
        self.telegram = TelegramAdapter(
            self.app.router,
            self.telegram_api.token,
            base_url=self.telegram_api.base_url,
            webhook_url="https://councilbot.test/telegram/webhook",
            webhook_secret=WEBHOOK_SECRET,
        )
        await self.telegram.start()
        self.slack = SlackAdapter(
            self.app.router,
            token=SLACK_TOKEN,
            signing_secret=SLACK_SECRET,
            base_url=self.slack_api.base_url,
        )
        for person in PEOPLE:  # known to the bot, so that they can be named
            for platform in (Platform.CONSOLE, Platform.TELEGRAM, Platform.SLACK):
                sender = person.identity(platform)
                chat = Chat(
                    platform=platform,
                    workspace=sender.workspace,
                    chat_id=f"D{sender.user_id}",
                    kind=ChatKind.PRIVATE,
                )
                await self._as(sender, chat, "whoami", "")

    async def stop(self) -> None:
        """Stop everything start() started, and the app."""
        if self.telegram is not None:
            await self.telegram.stop()
        if self.slack is not None:
            await self.slack.stop()
        await self.telegram_api.stop()
        await self.slack_api.stop()
        await self.app.aclose()

    async def reset(self, transport: str) -> None:
        """Link the transport's group to Cork and make Carol its coordinator, as at the start."""
        platform = Platform(transport)
        admin = ADMIN.identity(platform)
        group = {Platform.CONSOLE: "cork-chat", Platform.TELEGRAM: GROUP}.get(
            platform, SLACK_CHANNEL
        )
        chat = Chat(
            platform=platform, workspace=admin.workspace, chat_id=group, kind=ChatKind.GROUP
        )
        await self._as(admin, chat, "link", "cork")
        coordinator = COORDINATOR.identity(platform)
        await self._as(admin, chat, "coordinator", f"add {transport}:{coordinator.user_id} cork")

    async def _as(self, sender: Identity, chat: Chat, name: str, args: str) -> None:
        command = Command(name=name, args=args, sender=sender, chat=chat, received_at=START)
        reply = await self.app.router.handle(command)
        assert reply.error is None or "already" in reply.error, reply.text

    # Each `say_*` returns every text the person was shown in answer (empty: no answer).

    async def say_console(self, person: Person, private: bool, line: str) -> list[str]:
        chat = "dm" if private else "cork-chat"
        # The console reads one message per line.
        reply = await self.console.console.say(
            f"{person.console}@{chat}: {line.replace(chr(10), ' ')}"
        )
        return [reply.text] if isinstance(reply, Reply) else []

    async def say_telegram(self, person: Person, private: bool, line: str) -> list[str]:
        assert self.telegram is not None
        update = telegram_payload("private_command" if private else "group_command")
        message = update["message"]
        user = {
            "id": person.telegram,
            "is_bot": False,
            "first_name": person.name,
            "language_code": "en",
        }
        message["from"] = user
        if private:
            message["chat"] = {"id": person.telegram, "first_name": person.name, "type": "private"}
        message["text"] = line
        message["entities"] = [{"offset": 0, "length": len(line.split()[0]), "type": "bot_command"}]
        self._update_id += 1
        update["update_id"] = self._update_id
        before = len(self.telegram_api.requests)
        status = await self.telegram.process_webhook(json.dumps(update).encode(), WEBHOOK_SECRET)
        assert status == 200
        sent = [r for r in self.telegram_api.requests[before:] if r.method.startswith("send")]
        return [str(r.params.get("text", r.method)) for r in sent]

    async def say_slack(self, person: Person, private: bool, line: str) -> list[str]:
        assert self.slack is not None
        api = self.slack_api
        channel = (
            {"channel_id": f"D{person.slack[1:]}", "channel_name": "directmessage"}
            if private
            else {}
        )
        body = slash(
            api,
            line.removeprefix("/"),
            user_id=person.slack,
            user_name=person.name.lower(),
            **channel,
        )
        before, responded = len(api.requests), len(api.responses)
        status, _content, _headers = await self.slack.handle_http(body.encode(), signed(body))
        assert status == 200
        await self.slack.drain()
        answers = [r for r in api.requests[before:] if r.method != "auth.test"] + api.responses[
            responded:
        ]
        return [
            f"{r.params.get('text', r.method)}\n{json.dumps(r.params.get('blocks'))}"
            for r in answers
        ]


@contextlib.contextmanager
def running(template: Path, path: Path) -> Iterator[Transports]:
    """Build one app on its own loop (so that sync tests can drive it) on a copy of the template."""
    shutil.copy(template, path)
    url = f"sqlite+aiosqlite:///{path}"
    with asyncio.Runner() as runner:

        async def build() -> Transports:
            engine = create_engine(url)
            async with create_sessionmaker(engine)() as session, session.begin():
                await seed_councils(session, read_seed_file(SEED_FILE), now=START)
            admins = f"console:{ADMIN.console},telegram:{ADMIN.telegram},slack:{ADMIN.slack}"
            app = await build_app(Settings(database_url=url, admins=admins), engine=engine)
            bot = Bot(app, Clock())
            await bot.console.setup()
            transports = Transports(runner, app, bot)
            await transports.start()
            return transports

        transports = runner.run(build())
        try:
            yield transports
        finally:
            runner.run(transports.stop())


@pytest.fixture(scope="module")
def transports(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Transports]:
    """One bot for all the cases below, which run in a fixed order."""
    with running(sqlite_template, tmp_path_factory.mktemp("fuzz") / "fuzz.db") as transports:
        yield transports


@pytest.fixture
def fresh(sqlite_template: Path, tmp_path: Path) -> Iterator[Transports]:
    """A bot of its own, so that what it is told does not depend on the other tests."""
    with running(sqlite_template, tmp_path / "fresh.db") as transports:
        yield transports


def lines_for(transport: str, spec: CommandSpec) -> list[str]:
    """Return what is said to one command on one transport."""
    if transport == "console":
        return hostile_lines(spec, [*ADAPTER_VALUES, *CONSOLE_VALUES], every_slot=True)
    return hostile_lines(spec, ADAPTER_VALUES, every_slot=False)


def cases() -> list[Any]:
    """Return one case per transport and command; each line keeps its place in the list."""
    return [
        pytest.param(
            transport,
            spec,
            list(enumerate(lines_for(transport, spec))),
            id=f"{transport}-{spec.name}",
        )
        for transport in ("console", "telegram", "slack")
        for spec in SPECS
    ]


@pytest.mark.parametrize(("transport", "spec", "lines"), cases())
def test_hostile_arguments_get_an_answer_and_no_crash(
    transports: Transports,
    caplog: pytest.LogCaptureFixture,
    transport: str,
    spec: CommandSpec,
    lines: list[tuple[int, str]],
) -> None:
    say: Callable[[Person, bool, str], Awaitable[list[str]]] = getattr(
        transports, f"say_{transport}"
    )
    sorry = apologies(transports.app.router.catalogs)
    transports.runner.run(transports.reset(transport))
    caplog.set_level(logging.WARNING)
    failures = []
    for index, line in lines:
        # Each line from one person in turn, in the group or in private; a line refused
        # to someone who may not run the command is said again by an admin.
        person, private = PEOPLE[index % 3], index % 2 == 1
        for speaker in (person, ADMIN) if person.role < spec.role else (person,):
            caplog.clear()
            answers = transports.runner.run(say(speaker, private, line))
            crashed = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
            apology = [a for a in answers if any(s in a for s in sorry)]
            if not answers or crashed or apology:
                where = "private" if private else "group"
                logged = [r.getMessage() for r in crashed]
                failures.append((speaker.console, where, line[:80], logged, apology[:1]))
    assert not failures, failures


def test_every_command_of_the_router_is_fuzzed(transports: Transports) -> None:
    assert list(transports.app.router.specs) == [spec.name for spec in SPECS]
    for spec in SPECS:
        assert len(lines_for("console", spec)) > len(ADAPTER_VALUES) + len(CONSOLE_VALUES)
        assert len(lines_for("slack", spec)) > len(ADAPTER_VALUES)


async def test_numbers_too_big_for_an_id_name_nothing(bot: Bot) -> None:
    """Found by the fuzz on SQLite (20 digits); PostgreSQL's INTEGER ids stop at 2**31 - 1."""
    too_big = "2147483648"
    await bot('/announce cork "Hello all" --at tomorrow 09:00 --yes')  # there is something to find
    reply = await bot.reply(f"/deliveries {too_big}")
    assert reply.error == f"There is no announcement #{too_big}."
    reply = await bot.reply(f"/announce cancel {too_big}")
    assert reply.error == f"There is no announcement #{too_big}."
    reply = await bot.reply(f"/coordinator add #{too_big} cork")
    assert reply.error == f"Nobody is known as #{too_big}."
    reply = await bot.reply("/announce cancel 99999999999999999999")
    assert reply.error == "There is no announcement #99999999999999999999."


WORDS = st.sampled_from([*PLAUSIBLE, *CONSOLE_VALUES[:26], "\n"])
LINES = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda head, words, tail: " ".join([head, *words]) + tail,
        st.sampled_from([f"/{spec.name}" for spec in SPECS] + ["/", "/nope"]),
        st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=6),
        st.text(max_size=10),
    ),
)
SPEAKERS = st.sampled_from(["", "admin: ", "bob@dm: ", "carol@cork-chat: ", "zed@other: "])


@settings(
    max_examples=150,
    derandomize=True,  # the same examples on every run, none replayed from earlier runs
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(speaker=SPEAKERS, line=LINES)
def test_random_text_gets_a_reply(
    fresh: Transports, caplog: pytest.LogCaptureFixture, speaker: str, line: str
) -> None:
    caplog.set_level(logging.WARNING)
    caplog.clear()
    reply = fresh.runner.run(fresh.console.console.say(speaker + line))
    typed = line.strip()
    hint = "I only understand commands. Send /help to see them."
    if typed.startswith("/") or typed.isdecimal():  # a command or a button press
        assert isinstance(reply, Reply) and reply.text
    elif speaker.endswith("@dm: ") and speaker not in fresh.hinted:
        fresh.hinted.add(speaker)  # a private chat's first plain line gets the hint
        assert reply is not None and reply.text == hint
    elif reply is not None:  # plain text: quiet in a group, at most a hint in a private chat
        assert reply.text == hint
    crashed = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not crashed, [r.getMessage() for r in crashed]

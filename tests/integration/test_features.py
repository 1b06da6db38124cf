"""Features plug in by one declaration: commands with sub-commands, timed jobs, topics.

A test-only feature, "straw polls", is declared here the way a real one is at the end
of its module, and the real app is built with it: its commands, forms, topic and jobs
work through the router, the console, the scheduler and the database (SQLite and
PostgreSQL) without any other code knowing of it.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

import pytest
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleChat, ConsoleTarget, render
from councilbot.app import App, build_app, features
from councilbot.commands import announcements, general
from councilbot.core.features import Feature, Features, JobKind, JobRun, Topic
from councilbot.core.grammar import ArgModel, NoArgs, Rest
from councilbot.core.i18n import N_, Catalogs
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform, Reply
from councilbot.core.router import CommandSpec, Context, Role, SubCommand
from councilbot.db.models import Job, JobState, Subscription
from councilbot.services import jobs
from councilbot.settings import Settings
from tests.conftest import START, Clock

STRAW = "Straw polls"


class AskArgs(ArgModel):
    question: Annotated[str, Field(title=N_("text")), Rest()]


class CloseArgs(ArgModel):
    id: Annotated[int, Field(title=N_("id"))]
    reason: Annotated[str | None, Field(title=N_("text")), Rest()] = None


async def ask(ctx: Context, args: AskArgs) -> Reply:
    """Ask a straw poll (the command's own form: no sub-command word)."""
    return Reply(text=f"asked: {args.question}")


async def list_open(ctx: Context, _args: NoArgs) -> Reply:
    """List the open straw polls."""
    return Reply(text="open: none")


async def close(ctx: Context, args: CloseArgs) -> Reply:
    """Close a straw poll."""
    return Reply(text=f"closed #{args.id}" + (f" ({args.reason})" if args.reason else ""))


RAN: list[tuple[str, dict, str]] = []  # (handler, payload, "Cancel" in Spanish)


async def close_due(job: JobRun) -> None:
    RAN.append(("run", job.payload, str(job.catalogs.translator("es")("Cancel"))))


async def close_missed(job: JobRun) -> None:
    RAN.append(("missed", job.payload, str(job.catalogs.translator("es")("Cancel"))))


STRAW_FEATURE = Feature(
    "straw",
    commands=(
        CommandSpec(
            "straw",
            ask,
            N_("Ask a straw poll."),
            STRAW,
            AskArgs,
            form=True,
            subcommands=(
                SubCommand("list", list_open, N_("List the open straw polls."), personal=True),
                SubCommand(
                    "close",
                    close,
                    N_("Close a straw poll."),
                    CloseArgs,
                    role=Role.COORDINATOR,
                    details=N_("Its voters are told."),
                ),
            ),
        ),
    ),
    jobs=(
        JobKind("straw.close", run=close_due, missed=close_missed),
        JobKind("straw.remind", run=close_due),  # nothing to do when missed
    ),
    topic=Topic("straw", N_("straw polls")),
)


@pytest.fixture
async def straw_app(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> AsyncIterator[App]:
    """The real app, running the general and announcement features and the straw polls."""
    settings = Settings(database_url=database_url, admins="console:admin", default_language="en")
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO())},
        running=Features((general.FEATURE, announcements.FEATURE, STRAW_FEATURE)),
    )
    RAN.clear()
    yield app
    await app.aclose()


@pytest.fixture
async def say(straw_app: App, clock: Clock):
    console = ConsoleChat(
        straw_app.router, user="admin", chat="cork-chat", council="cork", clock=clock
    )
    await console.setup()

    async def say(line: str) -> str:
        reply = await console.say(line)
        assert reply is not None
        return render(reply)

    return say


async def test_the_first_word_picks_the_form_and_each_form_parses_its_own_arguments(say) -> None:
    assert await say("/straw Pizza on Friday?") == "asked: Pizza on Friday?"
    assert await say("/straw list") == "open: none"
    assert await say("/straw LIST") == "open: none"
    assert await say("/straw close 3 too few votes") == "closed #3 (too few votes)"
    assert await say("/straw close\n4") == "closed #4"
    # A word that names no form belongs to the command's own form.
    assert await say("/straw closed early?") == "asked: closed early?"


async def test_a_form_s_bad_arguments_show_that_form_s_usage(say) -> None:
    assert await say("/straw close three") == (
        "“three” is not a valid id.\nUsage: /straw close <id> [text ...]"
    )
    assert await say("/straw list everything") == (
        "I didn't expect everything.\nUsage: /straw list"
    )
    assert await say("/straw") == (
        "Please give the text.\nUsage: /straw <text> ... · /straw list · /straw close <id> [text ...]"
    )


async def test_each_form_checks_its_own_role(say) -> None:
    assert await say("sam: /straw list") == "open: none"
    assert await say("sam: /straw Tea or coffee?") == "asked: Tea or coffee?"
    assert await say("sam: /straw close 3") == "Only coordinators can use /straw."
    await say("/coordinator add sam cork")
    assert await say("sam: /straw close 3") == "closed #3"


async def test_a_command_whose_every_use_names_a_form_says_which_there_are(say) -> None:
    await say("sam: /start")
    assert await say("/coordinator") == (
        "/coordinator needs one of: add, remove.\n"
        "Usage: /coordinator add <user> <council> · /coordinator remove <user> <council>"
    )
    assert (await say("/coordinator make sam cork")).startswith(
        "“make” is not one of: add, remove.\nUsage: /coordinator add"
    )
    assert (await say("/coordinator remvoe sam cork")).startswith(
        "“remvoe” is not one of: add, remove. Did you mean /coordinator remove?\nUsage: "
    )
    assert await say("/coordinator add sam cork") == (
        "sam is now a coordinator of Southern Ireland council (MTU)."
    )
    assert await say("sam: /coordinator remove sam cork") == "Only admins can use /coordinator."


async def test_help_lists_the_forms_and_explains_each(say) -> None:
    assert await say("/help straw") == (
        "Ask a straw poll.\n"
        "• /straw <text> ...\n"
        "• /straw list — List the open straw polls.\n"
        "• /straw close <id> [text ...] — Close a straw poll."
    )
    assert await say("/help straw close") == (
        "/straw close <id> [text ...]\nClose a straw poll.\nIts voters are told.\n"
        "For coordinators and admins."
    )
    assert await say("/help straw list") == "/straw list\nList the open straw polls."
    assert await say("/help straw vote") == (
        "/straw has no form “vote”. Its forms are: list, close.\nUsage: /help [command]"
    )
    assert await say("/help whoami list") == (
        "/whoami has only one form: /whoami\nUsage: /help [command]"
    )
    assert (await say("sam: /help coordinator")).startswith(
        "Add or remove a coordinator of a council.\n"
        "• /coordinator add <user> <council> — Make someone a coordinator of a council.\n"
        "• /coordinator remove <user> <council> — Stop someone being a coordinator"
    )
    listed = await say("sam: /help")
    assert "/straw — Ask a straw poll." in listed  # a member may use some of its forms


async def test_a_feature_s_topic_can_be_subscribed_to_and_only_declared_topics_can(
    say, straw_app: App
) -> None:
    assert await say("sam: /subscribe straw") == (
        "Subscribed: I will send you straw polls for Southern Ireland council (MTU) by "
        "direct message. /unsubscribe straw stops it."
    )
    # Events are not among this app's features: their topic is unknown here.
    assert await say("sam: /subscribe events") == (
        "“events” is not one of: announcements, straw.\n"
        "Usage: /subscribe announcements|straw [council]"
    )
    assert "Subscriptions: straw polls (cork)" in await say("sam: /whoami")
    async with straw_app.sessionmaker() as session:
        topics = (await session.scalars(select(Subscription.topic))).all()
    assert topics == ["straw"]


async def test_the_whole_app_declares_the_four_topics_of_before_and_the_digest() -> None:
    assert [topic.name for topic in features().topics()] == [
        "announcements",
        "events",
        "desks",  # the weekly occupancy summary
        "polls",
        "magazine",
        "digest",
    ]


async def test_a_job_runs_its_kind_s_handler_and_a_missed_one_its_missed_handler(
    straw_app: App, clock: Clock
) -> None:
    async with straw_app.sessionmaker() as session, session.begin():
        for name, kind, due in (
            ("straw:1", "straw.close", START + timedelta(minutes=1)),
            ("straw:2", "straw.close", START - timedelta(days=2)),  # the bot was down
            ("straw:3", "straw.remind", START - timedelta(days=2)),
        ):
            await jobs.schedule(session, name, kind, due, {"name": name}, now=START)
    await straw_app.scheduler.sync()  # finds the two overdue ones missed
    clock.advance(minutes=2)
    assert await straw_app.scheduler.fire_due() == 1
    # The handlers are given the app's catalogs: Spanish is there.
    assert RAN == [
        ("missed", {"name": "straw:2"}, "Cancelar"),
        ("run", {"name": "straw:1"}, "Cancelar"),
    ]
    async with straw_app.sessionmaker() as session:
        states = dict((await session.execute(select(Job.name, Job.state))).all())
    assert states == {
        "straw:1": JobState.DONE,
        "straw:2": JobState.MISSED,
        "straw:3": JobState.MISSED,
    }
    assert straw_app.scheduler.counts == {
        ("straw.close", "missed"): 1,
        ("straw.remind", "missed"): 1,
        ("straw.close", "fired"): 1,
    }


def test_a_part_declared_twice_is_refused_at_start_up() -> None:
    twice = Feature("twice", jobs=(JobKind("straw.close", run=close_due),))
    with pytest.raises(ValueError, match=r"job kind 'straw\.close' is declared twice"):
        Features((STRAW_FEATURE, twice))
    same_topic = Feature("other", topic=Topic("straw", N_("straw polls")))
    with pytest.raises(ValueError, match="topic 'straw' is declared twice"):
        Features((STRAW_FEATURE, same_topic))
    with pytest.raises(ValueError, match="sub-command names must be unique lowercase words"):
        CommandSpec(
            "x",
            None,
            "",
            "",
            subcommands=(SubCommand("a", ask, ""), SubCommand("a", ask, "")),
        )
    with pytest.raises(ValueError, match="neither a handler nor sub-commands"):
        CommandSpec("x", None, "", "")


async def test_a_form_is_offered_for_the_command_and_for_each_form_with_fields(
    straw_app: App, clock: Clock
) -> None:
    router = straw_app.router
    chat = Chat(platform=Platform.CONSOLE, chat_id="cork-chat", kind=ChatKind.GROUP)

    def command(args: str, user: str = "admin") -> Command:
        sender = Identity(platform=Platform.CONSOLE, user_id=user, username=user)
        return Command(name="straw", args=args, sender=sender, chat=chat, received_at=START)

    whole = await router.form(command(""))
    closing = await router.form(command("close"))
    assert (whole.title, [f.name for f in whole.fields]) == ("/straw", ["question"])
    assert (closing.title, closing.summary, [f.name for f in closing.fields]) == (
        "/straw close",
        "Close a straw poll.",
        ["id", "reason"],
    )
    assert await router.form(command("list")) is None  # nothing to fill in: it just runs
    assert await router.form(command("close 3")) is None  # typed in full
    refused = await router.form(command("close", user="sam"))
    assert refused.error == "Only coordinators can use /straw."

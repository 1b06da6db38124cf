"""/publish previews an issue of EMPOWER and posts it to every council and subscriber;
/magazine reads the archive. On the console, link buttons show their address."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from councilbot.db.models import Delivery, DeliveryOperation, IssueStatus, Job, MagazineIssue
from councilbot.services import magazine
from tests.conftest import START, Bot, Clock
from tests.integration.test_console import councilbot

PUBLISH = '/publish 5 "Growth stories" https://empower.example/5 "Five SMEs that grew"'
POST = "📰 EMPOWER #5: Growth stories\nFive SMEs that grew"
READ = "[1] Read (https://empower.example/5)"


async def issues(bot: Bot) -> list[tuple[int, IssueStatus]]:
    async with bot.app.sessionmaker() as session:
        rows = await session.execute(
            select(MagazineIssue.number, MagazineIssue.status).order_by(MagazineIssue.number)
        )
        return [tuple(row) for row in rows]


async def posts(bot: Bot, operation: DeliveryOperation = DeliveryOperation.SEND) -> int:
    async with bot.app.sessionmaker() as session:
        return await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.source == magazine.SOURCE, Delivery.operation == operation)
        )


async def seed(bot: Bot) -> None:
    async with bot.app.sessionmaker() as session, session.begin():
        await magazine.seed_archive(session, now=START)


async def test_the_seeded_issue_is_the_latest_and_seeding_twice_adds_nothing(bot: Bot) -> None:
    assert await bot("/magazine") == "No issue of EMPOWER is in the archive yet."
    await seed(bot)
    await seed(bot)
    shown = await bot("bob@dm: /magazine")
    assert shown.startswith(
        "📰 EMPOWER #4: The fourth edition\nWelcome to the fourth edition of EMPOWER"
    )
    assert "Published on 1 Dec 2026." in shown
    assert "[1] Read (https://www.interregeurope.eu/smeclustergrowth)  [2] Archive" in shown
    assert await bot("bob@dm: /magazine 4") == shown
    assert await bot("bob@dm: /magazine latest") == shown
    assert await issues(bot) == [(4, IssueStatus.ARCHIVED)]
    assert await posts(bot) == 0  # the seed is archived, never posted


async def test_publish_previews_then_posts_to_every_council_and_subscriber(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("bob@dm: /subscribe magazine all")
    await bot("admin@malaga-chat: /link malaga")
    preview = await bot(PUBLISH + " --cover https://empower.example/5.jpg")
    assert preview.startswith("Cover: https://empower.example/5.jpg\n" + POST + "\n\n")
    assert "Preview of EMPOWER #5: it goes to 2 chats and 1 subscriber in " in preview
    assert preview.endswith("[1] Send  [2] Edit  [3] Cancel  [4] Read (https://empower.example/5)")
    assert await issues(bot) == [(5, IssueStatus.DRAFT)]
    assert await bot("bob@dm: /magazine 5") == "There is no issue #5 in the archive."
    assert await bot("4") == "https://empower.example/5"  # the link button, on a terminal
    assert await bot("1") == "EMPOWER #5 is on its way to 2 chats and 1 subscriber."
    await bot.app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    assert f"[to cork-chat] {POST}\n{READ}\n(picture: https://empower.example/5.jpg)" in printed
    assert printed.count(POST) == 3
    assert await bot("/publish send 5") == (
        "EMPOWER #5 is already published. /magazine 5 shows it."
    )
    assert await posts(bot) == 3
    assert (await bot("bob@dm: /magazine")).startswith(POST)


async def test_a_member_cannot_publish(bot: Bot) -> None:
    assert await bot("bob@dm: " + PUBLISH) == "Only coordinators can use /publish."


async def test_a_published_number_is_refused_with_the_issue_shown(bot: Bot) -> None:
    await bot(PUBLISH + " --yes")
    refused = await bot('/publish 5 "Other" https://empower.example/other')
    assert refused.startswith(
        "Issue #5 is already published, so I did not publish it again. /publish edit 5 "
        "corrects it; here it is:\n" + POST
    )
    assert (await bot('/publish 6 "Again" https://empower.example/5')).startswith(
        "That link is already issue #5, so I did not publish it again."
    )
    assert await issues(bot) == [(5, IssueStatus.PUBLISHED)]


async def test_publishing_again_replaces_ones_own_draft_not_anothers(bot: Bot) -> None:
    await bot(PUBLISH)
    assert (await bot('/publish 5 "Growth stories!" https://empower.example/5')).startswith(
        "📰 EMPOWER #5: Growth stories!"
    )
    assert await issues(bot) == [(5, IssueStatus.DRAFT)]
    await bot("carol@dm: /lang en")
    await bot("/coordinator add carol cork")
    assert await bot('carol@dm: /publish 5 "Mine" https://empower.example/mine') == (
        "Issue #5 is being prepared by another coordinator (a preview not sent yet); choose "
        "another number, or ask them to cancel theirs."
    )
    assert await bot("/publish cancel 5") == "Issue #5 is cancelled; nothing was sent."
    assert await issues(bot) == []


async def test_two_coordinators_publishing_one_number_at_once_make_one_issue(bot: Bot) -> None:
    for who in ("carol", "dave"):
        await bot(f"{who}@dm: /lang en")
        await bot(f"/coordinator add {who} cork")
    replies = await asyncio.gather(
        *(
            bot(f'{who}@dm: /publish 7 "Seven" https://empower.example/7-{who} --yes')
            for who in ("carol", "dave", "admin")
        )
    )
    assert sum(r.startswith("EMPOWER #7 is") for r in replies) == 1
    assert await issues(bot) == [(7, IssueStatus.PUBLISHED)]


async def test_at_schedules_it_and_it_goes_out_once_when_due(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    preview = await bot(PUBLISH + " --at tomorrow 09:30")
    assert "in Bologna, Cork, " in preview or "Cork" in preview
    assert ", on Wed 2 Dec, 09:30 GMT, with a Read button." in preview
    assert await bot("1") == (
        "EMPOWER #5 will go out on Wed 2 Dec, 09:30 GMT to every council and subscriber. "
        "/publish cancel 5 cancels it."
    )
    assert await bot('/publish 5 "x" https://empower.example/x') == (
        "Issue #5 is already scheduled for Wed 2 Dec, 09:30 GMT. /publish cancel 5 cancels it."
    )
    assert await posts(bot) == 0
    clock.advance(days=1, minutes=30)
    await bot.app.scheduler.sync()
    assert await bot.app.scheduler.fire_due() == 1
    assert await bot.app.scheduler.fire_due() == 0
    assert await issues(bot) == [(5, IssueStatus.PUBLISHED)]
    assert await posts(bot) == 1
    async with bot.app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 1


async def test_a_scheduled_issue_can_be_cancelled(bot: Bot, clock: Clock) -> None:
    await bot(PUBLISH + " --at tomorrow 09:30 --yes")
    assert await bot("/publish cancel 5") == "Issue #5 is cancelled; nothing was sent."
    clock.advance(days=2)
    assert await bot.app.scheduler.fire_due() == 0
    assert await issues(bot) == []


async def test_edit_corrects_the_posts_in_place(bot: Bot, console_out: io.StringIO) -> None:
    await bot("bob@dm: /subscribe magazine all")
    await bot(PUBLISH + " --yes")
    await bot.app.dispatcher.run_until_idle()
    assert await bot('/publish edit 5 "Growth stories, corrected" --summary "Six SMEs"') == (
        "Issue #5 is corrected; 2 posts will be edited to match."
    )
    await bot.app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    assert (
        "[edited in cork-chat, message 1] 📰 EMPOWER #5: Growth stories, corrected\nSix SMEs"
        in (printed)
    )
    assert await posts(bot, DeliveryOperation.EDIT) == 2
    assert (await bot("/magazine 5")).startswith(
        "📰 EMPOWER #5: Growth stories, corrected\nSix SMEs"
    )
    assert await bot('/publish edit 5 "Growth stories, corrected"') == (
        "Issue #5 already says that; nothing changed."
    )
    assert (await bot("/publish edit 5")).startswith(
        'Correct it with /publish edit 5 "<new title>" and/or --summary'
    )
    assert await bot("/publish edit 9 --summary x") == "There is no issue #9."


async def test_the_archive_pages_newest_first_with_next_and_previous(bot: Bot) -> None:
    for number in range(1, 8):
        await bot(f'/publish {number} "Issue {number}" https://empower.example/{number} --yes')
    first = await bot("bob@dm: /magazine archive")
    assert first.splitlines()[0] == "EMPOWER archive (page 1 of 2, newest first)"
    assert first.splitlines()[1] == "#7 · Issue 7 (https://empower.example/7) · 1 Dec 2026"
    assert first.endswith("[1] Next ▶")
    second = await bot("bob@dm: 1")
    assert second.splitlines()[1:3] == [
        "#2 · Issue 2 (https://empower.example/2) · 1 Dec 2026",
        "#1 · Issue 1 (https://empower.example/1) · 1 Dec 2026",
    ]
    assert second.endswith("[1] ◀ Previous")
    assert (await bot("bob@dm: 1")) == first
    assert await bot("bob@dm: /magazine archive 3") == (
        "The archive has 2 pages; there is no page 3."
    )


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        (
            '/publish 5 "T" notalink',
            "“notalink” is not a web address: give one starting with https://.",
        ),
        ('/publish x "T" https://e.example', "“x” is not an issue number: numbers are like 5."),
        (
            "/publish 5 Growth stories https://e.example/5",
            'Put a title of several words in quotes: /publish 5 "Growth stories" '
            "https://e.example/5",
        ),
        (
            "/magazine abc",
            "“abc” is not an issue number: numbers are like 5. /magazine archive lists them.",
        ),
    ],
)
async def test_bad_input_says_what_is_wrong(bot: Bot, line: str, answer: str) -> None:
    assert (await bot(line)).startswith(answer)


def test_councilbot_seed_puts_issue_4_in_the_archive_once(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    assert councilbot("db", "upgrade", db=db).returncode == 0
    assert councilbot("seed", db=db).stdout.endswith("magazine: issue #4 added\n")
    again = councilbot("seed", db=db)
    assert again.stdout.endswith("magazine: issue #4 already in the archive\n")
    shown = councilbot("chat", "--council", "cork", db=db, stdin="/magazine\n")
    assert shown.stdout.startswith(
        "📰 EMPOWER #4: The fourth edition\nWelcome to the fourth edition of EMPOWER, the SME Cluster "
        "Growth project magazine."
    )


async def test_an_issue_due_while_the_bot_was_down_is_missed_and_sent_late_on_request(
    bot: Bot, clock: Clock
) -> None:
    await bot(PUBLISH + " --at tomorrow 09:30 --yes")
    clock.advance(days=3)  # the bot was down well past the scheduler's grace
    await bot.app.scheduler.sync()
    assert bot.app.scheduler.counts == {(magazine.SEND_JOB, "missed"): 1}
    assert await issues(bot) == [(5, IssueStatus.MISSED)]
    assert await posts(bot) == 0
    assert await bot("/publish send 5") == "EMPOWER #5 is on its way to 1 chat and 0 subscribers."
    assert await issues(bot) == [(5, IssueStatus.PUBLISHED)]

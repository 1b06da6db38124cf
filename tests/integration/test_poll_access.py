"""Who may vote in a poll and read its results: those it asks, and those who manage it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from councilbot.app import App
from councilbot.core.i18n import Catalogs
from councilbot.db.models import Council, Member
from councilbot.services import polls
from tests.conftest import START, Bot, Clock

NOT_FOR_EVE = (
    "Poll #1 is for members of Southern Ireland council (MTU): vote from one of their chats, "
    "or make one of them your home council with /start."
)


async def test_only_those_a_council_poll_asks_vote_in_it_and_read_its_results(bot: Bot) -> None:
    await bot("bob@dm: /start cork")
    await bot("eve@dm: /start malaga")
    await bot("eve@dm: /lang en")  # Málaga speaks Spanish; eve reads English
    await bot('/poll "Lunch?" "Yes" "No" --yes')
    # A member of another council, in a direct message or an unlinked chat, is refused.
    assert await bot("eve@dm: /vote 1 1") == NOT_FOR_EVE
    assert await bot("eve@elsewhere: /vote 1 yes") == NOT_FOR_EVE
    assert await bot("eve@dm: /vote 1") == NOT_FOR_EVE
    assert await bot("eve@dm: /results 1") == (
        "The results of poll #1 are for members of Southern Ireland council (MTU): ask there, "
        "or make one of them your home council with /start."
    )
    # In the Cork chat, where the poll was put to her, her vote counts; at home, bob's does.
    assert (await bot("eve@cork-chat: /vote 1 1")).startswith("Your vote in poll #1: Yes.")
    assert (await bot("bob@dm: /vote 1 2")).startswith("Your vote in poll #1: No.")
    assert "2 voters" in await bot("bob@dm: /results 1")
    # The bot's admin manages every poll, and may vote and read it from anywhere.
    assert (await bot("admin@dm: /vote 1 no")).startswith("Your vote in poll #1: No.")
    assert "3 voters" in await bot("admin@dm: /results 1")


async def test_a_direct_poll_takes_only_its_invitees_votes_and_shows_them_results_at_close(
    bot: Bot, app: App, clock: Clock, catalogs: Catalogs
) -> None:
    for name in ("organiser", "bob", "carol"):
        await bot(f"{name}@dm: /start cork")
    async with app.sessionmaker() as session, session.begin():
        ids = {m.display_name: m.id for m in await session.scalars(select(Member))}
        cork = await session.scalar(select(Council).where(Council.slug == "cork"))
        assert cork is not None
        await polls.create_feedback_poll(
            session,
            title="The fair",
            council_id=cork.id,
            organiser_member_id=ids["organiser"],
            member_ids=[ids["bob"]],
            zone=cork.timezone,
            closes_at=START + timedelta(days=3),
            now=START,
            catalogs=catalogs,
        )
    refused = "Poll #1 asks only the people it was sent to; you were not among them."
    assert await bot("carol@dm: /vote 1 5") == refused
    assert await bot("carol@cork-chat: /vote 1 5") == refused
    assert await bot("organiser@dm: /vote 1 5") == refused
    assert (await bot("bob@dm: /vote 1 4")).startswith("Your anonymous vote in poll #1")
    assert await bot("carol@dm: /results 1") == "The results of poll #1 are not for you."
    assert await bot("bob@dm: /results 1") == (
        "The results of poll #1 go to its organiser; you can see them here once it closes."
    )
    clock.advance(days=3, minutes=1)
    await app.scheduler.fire_due()
    assert "Average: 4.0 out of 5" in await bot("organiser@dm: /results 1")
    assert "Average: 4.0 out of 5" in await bot("bob@dm: /results 1")
    assert await bot("carol@dm: /results 1") == "The results of poll #1 are not for you."


async def test_only_the_author_cancels_a_draft_and_is_told_so(bot: Bot) -> None:
    await bot("carol@dm: /start cork")
    await bot("/coordinator add carol cork")
    await bot('/poll "Lunch?" "Yes" "No"')
    assert await bot("carol@cork-chat: /poll cancel 1") == (
        "Only the coordinator who wrote poll #1 can cancel it."
    )
    assert await bot("carol@cork-chat: /poll send 1") == (
        "Only the coordinator who wrote poll #1 can send it."
    )

"""The magazine is one subscription without a council (issue 14's user trial): /subscribe
magazine asks no council, /whoami names no council, and a subscription kept from before
with a council still gets every issue; the topic's label reads well in French."""

from __future__ import annotations

import io

from sqlalchemy import select

from councilbot.db.models import Member, Subscription
from councilbot.services import councils, magazine, members
from tests.conftest import Bot


async def test_the_magazine_is_one_subscription_without_a_council(bot: Bot) -> None:
    subscribed = (
        "Subscribed: I will send you magazine issues by direct message. "
        "/unsubscribe magazine stops it."
    )
    assert await bot("bob@dm: /subscribe magazine") == subscribed
    assert await bot("bob@cork-chat: /subscribe magazine") == (
        "You were already subscribed to magazine issues."
    )
    assert await bot("bob@dm: /subscribe magazine istanbul") == (
        "You were already subscribed to magazine issues."
    )
    assert "Subscriptions: magazine issues\n" in await bot("bob@dm: /whoami") + "\n"
    assert await bot("bob@dm: /unsubscribe magazine cork") == (
        "Unsubscribed: no more magazine issues by direct message."
    )
    assert await bot("bob@dm: /unsubscribe magazine") == (
        "You were not subscribed to magazine issues."
    )
    async with bot.app.sessionmaker() as session:
        rows = (await session.scalars(select(Subscription))).all()
    assert rows == []


async def test_a_subscription_kept_with_a_council_still_gets_the_magazine(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("zoe@dm: /lang en")
    async with bot.app.sessionmaker() as session, session.begin():
        zoe = await session.scalar(select(Member).where(Member.display_name == "zoe"))
        istanbul = await councils.get_council(session, "istanbul")
        await members.subscribe(session, zoe, magazine.TOPIC, istanbul, now=bot.console.clock())
    assert await bot("zoe@dm: /subscribe magazine") == (
        "You were already subscribed to magazine issues."
    )
    assert "Subscriptions: magazine issues\n" in await bot("zoe@dm: /whoami") + "\n"
    assert (await bot('/publish 5 "Five" https://e.example/5 --yes')).endswith("1 subscriber.")
    await bot.app.dispatcher.run_until_idle()
    assert "[to dm:zoe] 📰 EMPOWER #5: Five" in console_out.getvalue()
    assert await bot("zoe@dm: /unsubscribe magazine") == (
        "Unsubscribed: no more magazine issues by direct message."
    )


async def test_the_subscription_reads_well_in_french(bot: Bot) -> None:
    await bot("zoe@dm: /lang fr")
    assert await bot("zoe@dm: /subscribe magazine") == (
        "Abonnement activé. Vous recevrez en message privé : numéros du magazine. "
        "/unsubscribe magazine l'annule."
    )
    assert "Abonnements\xa0: numéros du magazine" in await bot("zoe@dm: /whoami")
    assert (await bot("zoe@dm: /subscribe events")).startswith(
        "Pour quel conseil voulez-vous cet abonnement : événements ? Choisissez-en un"
    )

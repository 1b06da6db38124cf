"""The broadcast service: who a post reaches, in whose language and zone, queued once.

On a real database (SQLite, and PostgreSQL when configured), with rows as the bot stores them.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.i18n import Catalogs
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import Channel, Council, Delivery, Identity, Member, Subscription
from councilbot.db.session import create_sessionmaker
from councilbot.services import broadcast
from tests.conftest import START


async def add_member(
    session,
    name: str,
    *,
    locale: str | None = None,
    home: Council | None = None,
    identities: list[tuple[Platform, str, str | None, timedelta]],
    topic: str = "announcements",
    council: Council | None = None,
) -> Member:
    """Add a member subscribed to `topic` (for `council`, or all) with identities given as
    (platform, user id, app language, how long ago last seen)."""
    member = Member(
        display_name=name,
        locale=locale,
        home_council_id=home.id if home else None,
        created_at=START,
    )
    session.add(member)
    await session.flush()
    for platform, user_id, language, ago in identities:
        session.add(
            Identity(
                member_id=member.id,
                platform=platform,
                user_id=user_id,
                language_code=language,
                created_at=START - timedelta(days=30),
                last_seen_at=START - ago,
            )
        )
    session.add(
        Subscription(
            member_id=member.id,
            topic=topic,
            council_id=council.id if council else None,
            created_at=START,
        )
    )
    return member


async def test_each_recipient_is_reached_once_in_their_language_and_zone(
    seeded: AsyncEngine, catalogs: Catalogs
) -> None:
    async with create_sessionmaker(seeded)() as session, session.begin():
        by_slug = {c.slug: c for c in await session.scalars(select(Council))}
        cork, bologna, malaga = by_slug["cork"], by_slug["bologna"], by_slug["malaga"]
        for chat, council, locale in (("-1001", bologna, None), ("-1002", malaga, "en")):
            session.add(
                Channel(
                    platform=Platform.TELEGRAM,
                    external_id=chat,
                    council_id=council.id,
                    locale=locale,
                    created_at=START,
                    updated_at=START,
                )
            )
        session.add(  # not reached: the bot left it
            Channel(
                platform=Platform.TELEGRAM,
                external_id="-1003",
                council_id=bologna.id,
                active=False,
                created_at=START,
                updated_at=START,
            )
        )
        # Chose Turkish with /lang: that wins over everything.
        await add_member(
            session,
            "Ayşe",
            locale="tr",
            home=cork,
            identities=[(Platform.TELEGRAM, "10", "fr", timedelta(0))],
        )
        # No /lang: their app's French, as last seen on Telegram (Slack reports none).
        await add_member(
            session,
            "Bruno",
            home=cork,
            council=bologna,
            identities=[
                (Platform.TELEGRAM, "20", "fr", timedelta(days=2)),
                (Platform.SLACK, "U20", None, timedelta(hours=1)),  # seen last: reached here
            ],
        )
        # No /lang, no app language: their home council's (Málaga: Spanish, Madrid time).
        await add_member(
            session,
            "Carmen",
            home=malaga,
            identities=[(Platform.CONSOLE, "carmen", None, timedelta(0))],
        )
        # No home council either: the default language, and the first target's zone.
        await add_member(session, "Dan", identities=[(Platform.CONSOLE, "dan", None, timedelta(0))])
        # Subscribed to another topic, or to another council: not reached.
        await add_member(
            session,
            "Eve",
            identities=[(Platform.CONSOLE, "eve", None, timedelta(0))],
            topic="events",
        )
        await add_member(
            session,
            "Finn",
            council=cork,
            identities=[(Platform.CONSOLE, "finn", None, timedelta(0))],
        )
        await session.flush()

        audience = await broadcast.audience(
            session,
            [bologna, malaga],
            "announcements",
            zone=ZoneInfo("Europe/Rome"),  # the thing's zone: Bologna's
            catalogs=catalogs,
            default_language="en",
        )
        reached = [
            (r.platform.value, r.chat_id, r.chat_kind, r.t.lang, str(r.tz))
            for r in audience.recipients
        ]
        assert reached == [
            ("telegram", "-1001", ChatKind.GROUP, "it", "Europe/Rome"),
            # Every chat and direct message shows times in the thing's zone (Bologna's here),
            # not its own council's nor the reader's home's.
            ("telegram", "-1002", ChatKind.GROUP, "en", "Europe/Rome"),
            ("telegram", "10", ChatKind.PRIVATE, "tr", "Europe/Rome"),
            ("slack", "U20", ChatKind.PRIVATE, "fr", "Europe/Rome"),
            ("console", "carmen", ChatKind.PRIVATE, "es", "Europe/Rome"),
            ("console", "dan", ChatKind.PRIVATE, "en", "Europe/Rome"),
        ]
        assert (audience.chats, audience.subscribers) == (2, 4)

        def render(recipient: broadcast.Recipient) -> object:
            return recipient.message(str(recipient.t("Announcements")))

        queued = await broadcast.enqueue(
            session, audience, render, source="test", source_id=7, now=START
        )
        again = await broadcast.enqueue(
            session, audience, render, source="test", source_id=7, now=START
        )
        assert (queued, again) == (6, 0)  # the keys make a retried broadcast queue nothing
        rows = {
            d.chat_id: (d.payload["text"], d.member_id is not None, d.channel_id is not None)
            for d in await session.scalars(select(Delivery))
        }
    assert rows == {
        "-1001": ("Annunci", False, True),
        "-1002": ("Announcements", False, True),
        "10": ("Duyurular", True, False),
        "U20": ("Annonces", True, False),
        "carmen": ("Anuncios", True, False),
        "dan": ("Announcements", True, False),
    }

"""/announce edit and delete: what they change, and what they refuse and why.

An edit after sending changes every post the announcement made, each rendered for the chat
it went to, whoever the announcement would reach today. Console chats, on SQLite and (when
configured) PostgreSQL.
"""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import delete, select, update

from councilbot.core.messages import Platform
from councilbot.db.models import (
    Announcement,
    AnnouncementStatus,
    Council,
    Delivery,
    DeliveryOperation,
    DeliveryStatus,
    Identity,
    Member,
)
from tests.conftest import CORK_TEXT, START, Bot, Clock

MALAGA_TEXT = "Andalusian council (Smart City cluster)"


def printed_since(console_out: io.StringIO, mark: int) -> list[str]:
    """Return what the console printed after `mark`, one entry per message."""
    return [entry for entry in console_out.getvalue()[mark:].split("\n\n") if entry]


async def test_an_edit_after_sending_changes_every_post_whoever_it_would_reach_today(
    bot: Bot, console_out: io.StringIO
) -> None:
    """Bob unsubscribed, Carla was since seen on Telegram, the annex chat was unlinked,
    and Dan's Italian DM: all of their posts change, each in its reader's language."""
    await bot("admin@cork-annex: /link cork")
    for person in ("bob", "carla", "dan"):
        await bot(f"{person}@dm: /subscribe announcements cork")
    await bot("dan@dm: /lang it")
    await bot("/announce cork Meet at 7 --yes")
    await bot.app.dispatcher.run_until_idle()

    await bot("bob@dm: /unsubscribe announcements cork")
    async with bot.app.sessionmaker() as session, session.begin():
        carla = await session.scalar(select(Member).where(Member.display_name == "carla"))
        assert carla is not None
        session.add(
            Identity(
                member_id=carla.id,
                platform=Platform.TELEGRAM,
                user_id="4242",
                created_at=START,
                last_seen_at=START + timedelta(minutes=5),
            )
        )
    await bot("admin@cork-annex: /unlink")
    mark = len(console_out.getvalue())

    assert await bot("/announce edit 1 Meet at 8") == (
        "Announcement #1 is changed; 5 posts will be edited to match. "
        "/deliveries 1 shows how it goes."
    )
    await bot.app.dispatcher.run_until_idle()
    italian = bot.app.catalogs.translator("it")
    header_it = str(italian("📣 <b>Announcement — {councils}</b>", councils=CORK_TEXT))
    header_it = header_it.replace("<b>", "").replace("</b>", "")
    assert sorted(printed_since(console_out, mark)) == sorted(
        [
            f"[edited in cork-chat, message 1] 📣 Announcement — {CORK_TEXT}\nMeet at 8",
            f"[edited in cork-annex, message 2] 📣 Announcement — {CORK_TEXT}\nMeet at 8",
            f"[edited in dm:bob, message 3] 📣 Announcement — {CORK_TEXT}\nMeet at 8",
            f"[edited in dm:carla, message 4] 📣 Announcement — {CORK_TEXT}\nMeet at 8",
            f"[edited in dm:dan, message 5] {header_it}\nMeet at 8",
        ]
    )


async def test_an_announcement_whose_councils_were_removed_can_still_be_edited(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("bob@dm: /subscribe announcements all")  # bob has no home council
    await bot("/announce cork Meet at 7 --yes")
    await bot.app.dispatcher.run_until_idle()
    async with bot.app.sessionmaker() as session, session.begin():
        await session.execute(delete(Council).where(Council.slug == "cork"))
    mark = len(console_out.getvalue())

    assert await bot("admin@dm: /announce edit 1 Meet at 8") == (
        "Announcement #1 is changed; 2 posts will be edited to match. "
        "/deliveries 1 shows how it goes."
    )
    await bot.app.dispatcher.run_until_idle()
    edits = printed_since(console_out, mark)
    assert [entry.split("]")[0] for entry in sorted(edits)] == [
        "[edited in cork-chat, message 1",
        "[edited in dm:bob, message 2",
    ]
    assert all(entry.endswith("\nMeet at 8") for entry in edits)


async def test_a_scheduled_announcement_is_edited_and_goes_out_with_the_new_text(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await bot("/announce cork Meet at 7 --at tomorrow 10:00 --yes")
    assert await bot("admin@dm: /announce edit 1 Meet at 8") == (
        "Announcement #1 is changed; it will go out on Wed 2 Dec, 10:00 GMT with the new text."
    )
    clock.advance(days=1, hours=1)
    assert await bot.app.scheduler.fire_due() == 1
    await bot.app.dispatcher.run_until_idle()
    assert console_out.getvalue() == f"[to cork-chat] 📣 Announcement — {CORK_TEXT}\nMeet at 8\n\n"


async def test_a_missed_announcement_is_edited_and_then_sent_now_with_the_new_text(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await bot("/announce cork Meet at 7 --at tomorrow 08:00 --yes")
    clock.advance(days=3)  # the bot was down far longer than the grace period
    await bot.app.scheduler.sync()
    assert await bot("/announce edit 1 Meet at 8") == (
        "Announcement #1 is changed. It was due while the bot was down: /announce send 1 to "
        "send it late, with the new text."
    )
    async with bot.app.sessionmaker() as session:
        item = await session.get(Announcement, 1)
        assert item is not None
        assert (item.status, item.text) == (AnnouncementStatus.MISSED, "Meet at 8")
    assert "\nMeet at 8\n" in await bot("/announce send 1")  # the preview, with the new text
    assert (await bot("1")).startswith("Announcement #1 is on its way to 1 chat.")
    await bot.app.dispatcher.run_until_idle()
    assert "Meet at 8" in console_out.getvalue()
    assert "Meet at 7" not in console_out.getvalue()


async def test_only_its_author_an_admin_or_a_coordinator_of_all_its_councils_may_edit_or_delete(
    bot: Bot, console_out: io.StringIO
) -> None:
    for person in ("bob", "carol"):
        await bot(f"{person}@dm: /lang en")
    await bot("/coordinator add bob cork")
    for council in ("cork", "malaga"):
        await bot(f"/coordinator add carol {council}")
    await bot("/announce cork,malaga Hello both --yes")  # #1, by the admin
    await bot("carol@dm: /announce cork,malaga From carol --yes")  # #2
    await bot("/coordinator remove carol malaga")
    await bot.app.dispatcher.run_until_idle()
    mark = len(console_out.getvalue())

    refusal = (
        "Only its author, an admin or a coordinator of every council it goes to can {verb} "
        "announcement #{id}; you do not coordinate {councils}."
    )
    for verb in ("edit", "delete"):
        words = " Changed" if verb == "edit" else ""
        for number in (1, 2):
            assert await bot(f"bob@dm: /announce {verb} {number}{words}") == refusal.format(
                verb=verb, id=number, councils=MALAGA_TEXT
            )
        assert await bot(f"carol@dm: /announce {verb} 1{words}") == refusal.format(
            verb=verb, id=1, councils=MALAGA_TEXT
        )
    await bot.app.dispatcher.run_until_idle()
    assert printed_since(console_out, mark) == []  # nothing changed anywhere
    # Its author may, even without coordinating all its councils any more.
    assert await bot("carol@dm: /announce edit 2 From Carol") == (
        "Announcement #2 is changed; 1 post will be edited to match. "
        "/deliveries 2 shows how it goes."
    )
    assert await bot("carol@dm: /announce delete 2") == (
        "Announcement #2 is deleted; 1 post will be removed. "
        "/deliveries 2 shows what each platform allowed."
    )


async def test_a_deleted_announcement_is_neither_deleted_again_nor_edited(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("/announce cork Meet at 7 --yes")
    await bot.app.dispatcher.run_until_idle()
    assert await bot("/announce delete 1") == (
        "Announcement #1 is deleted; 1 post will be removed. "
        "/deliveries 1 shows what each platform allowed."
    )
    await bot.app.dispatcher.run_until_idle()
    mark = len(console_out.getvalue())
    assert await bot("/announce delete 1") == "Announcement #1 is already deleted."
    assert await bot("/announce edit 1 Meet at 8") == (
        "Announcement #1 was deleted; there is nothing to edit."
    )
    assert await bot("/announce edit 1") == "Announcement #1 was deleted; there is nothing to edit."
    await bot.app.dispatcher.run_until_idle()
    assert printed_since(console_out, mark) == []
    async with bot.app.sessionmaker() as session:
        item = await session.get(Announcement, 1)
        assert item is not None
        assert (item.status, item.text) == (AnnouncementStatus.DELETED, "Meet at 7")


async def test_an_old_preview_is_not_edited_either(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Meet at 7")
    clock.advance(hours=25)
    refusal = (
        "The preview of announcement #1 is too old to send: announce it again to see who it "
        "reaches today."
    )
    assert await bot("/announce edit 1 Meet at 8") == refusal
    assert await bot("/announce edit 1") == refusal


async def test_an_edit_that_failed_is_retried_by_giving_the_same_text_again(bot: Bot) -> None:
    await bot("/announce cork Meet at 7 --yes")
    await bot.app.dispatcher.run_until_idle()
    await bot("/announce edit 1 Meet at 8")
    async with bot.app.sessionmaker() as session, session.begin():
        # The platform refused it for good: the chat still shows "Meet at 7".
        await session.execute(
            update(Delivery)
            .where(Delivery.operation == DeliveryOperation.EDIT)
            .values(status=DeliveryStatus.FAILED, last_error="telegram: try later")
        )
    assert "1 failed" in await bot("/deliveries 1")
    assert await bot("/announce edit 1 Meet at 8") == (
        "Announcement #1 is changed; 1 post will be edited to match. "
        "/deliveries 1 shows how it goes."
    )
    await bot.app.dispatcher.run_until_idle()
    assert "Edits: 1 done" in await bot("/deliveries 1")
    assert await bot("/announce edit 1 Meet at 8") == (
        "Announcement #1 already says that; nothing changed."
    )


async def test_only_its_author_sends_a_missed_announcement_late(bot: Bot, clock: Clock) -> None:
    await bot("bob@dm: /lang en")
    await bot("/coordinator add bob cork")
    await bot("/announce cork Meet at 7 --at tomorrow 08:00 --yes")
    clock.advance(days=3)
    await bot.app.scheduler.sync()
    assert await bot("bob@dm: /announce send 1") == (
        "Only the coordinator who wrote announcement #1 can send it."
    )
    async with bot.app.sessionmaker() as session:
        item = await session.get(Announcement, 1)
        assert item is not None and item.status is AnnouncementStatus.MISSED

"""/announce answers with a preview and Send, Edit and Cancel; nothing goes out until Send.

On the console the buttons are numbered: typing the number presses one. Times are shown
with their zone's abbreviation, in the zone of the council the announcement belongs to.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

from sqlalchemy import func, select

from councilbot.db.models import Announcement, AnnouncementStatus, Delivery, Job
from tests.conftest import CORK_TEXT, Bot, Clock

MALAGA_TEXT = "Andalusian council (Smart City cluster)"
BOLOGNA_TEXT = "Emilia-Romagna council"
BUTTONS = "[1] Send  [2] Edit  [3] Cancel"


async def counts(bot: Bot) -> tuple[int, int]:
    """Return how many deliveries and jobs are queued."""
    async with bot.app.sessionmaker() as session:
        deliveries = await session.scalar(select(func.count()).select_from(Delivery))
        jobs = await session.scalar(select(func.count()).select_from(Job))
    return deliveries, jobs


async def status(bot: Bot, announcement_id: int = 1) -> AnnouncementStatus:
    async with bot.app.sessionmaker() as session:
        announcement = await session.get(Announcement, announcement_id)
        assert announcement is not None
        return announcement.status


async def test_the_preview_shows_the_text_who_it_reaches_and_sends_on_send(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("bob@dm: /subscribe announcements cork")
    await bot("admin@malaga-chat: /link malaga")
    assert await bot("/announce cork,malaga Desks <free> today") == (
        f"📣 Announcement — {CORK_TEXT}, {MALAGA_TEXT}\n"
        "Desks <free> today\n\n"
        "Preview of announcement #1: it goes to 2 chats and 1 subscriber in Cork, "
        "Málaga / Seville, now. Nothing is sent until you press Send.\n" + BUTTONS
    )
    assert await counts(bot) == (0, 0)
    assert await status(bot) is AnnouncementStatus.DRAFT
    assert await bot("admin@dm: /deliveries 1") == (
        "Announcement #1 is a draft: nothing is sent until its preview's Send is pressed."
    )
    assert await bot("1") == (
        "Announcement #1 is on its way to 2 chats and 1 subscriber. /deliveries 1 shows how it "
        "goes."
    )
    await bot.app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    assert f"[to cork-chat] 📣 Announcement — {CORK_TEXT}\nDesks <free> today" in printed
    assert printed.count("Desks <free> today") == 3
    # A second press (another device, a double tap) sends nothing more, and says why.
    assert await bot("/announce send 1") == (
        "Announcement #1 was already sent on Tue 1 Dec, 09:00 GMT. /deliveries 1 shows how it went."
    )
    assert await counts(bot) == (3, 0)


async def test_cancel_on_the_preview_sends_nothing(bot: Bot) -> None:
    await bot("/announce cork Never mind")
    assert await bot("3") == "Announcement #1 is cancelled; it will not be sent."
    assert await bot("/announce edit 1") == (
        "Announcement #1 was cancelled; there is nothing to edit."
    )
    assert await bot("/announce send 1") == (
        "Announcement #1 was cancelled, so it will not be sent; announce it again if you still "
        "want it out."
    )
    assert await counts(bot) == (0, 0)
    assert await status(bot) is AnnouncementStatus.CANCELLED


async def test_edit_on_the_preview_says_how_and_shows_a_fresh_preview(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot("/announce cork Desks are fre")
    assert await bot("2") == (
        "Send the new text with /announce edit 1 followed by it. It reads now:\nDesks are fre"
    )
    assert await bot("/announce edit 1 Desks are free") == (
        f"📣 Announcement — {CORK_TEXT}\n"
        "Desks are free\n\n"
        "Preview of announcement #1: it goes to 1 chat and 0 subscribers in Cork, now. "
        "Nothing is sent until you press Send.\n" + BUTTONS
    )
    assert await counts(bot) == (0, 0)
    await bot("1")
    await bot.app.dispatcher.run_until_idle()
    assert "Desks are free\n" in console_out.getvalue()
    assert "Desks are fre\n" not in console_out.getvalue()


async def test_a_scheduled_preview_says_when_and_send_schedules_it(bot: Bot, clock: Clock) -> None:
    reply = await bot("/announce cork Lean workshop --at tomorrow 09:30")
    assert "Preview of announcement #1: it goes to 1 chat and 0 subscribers in Cork, on " in reply
    assert "on Wed 2 Dec, 09:30 GMT. Nothing is sent" in reply
    assert await bot("admin@dm: /announce list") == (
        "Your drafts (nothing is sent until you send them)\n"
        "#1 · Wed 2 Dec, 09:30 GMT · cork · Lean workshop · /announce send 1"
    )
    assert await bot("1") == (
        f"Announcement #1 will go out on Wed 2 Dec, 09:30 GMT to {CORK_TEXT}. "
        "/announce cancel 1 cancels it."
    )
    assert await counts(bot) == (0, 1)
    assert await bot("/announce send 1") == (
        "Announcement #1 is already scheduled for Wed 2 Dec, 09:30 GMT. "
        "/announce cancel 1 cancels it."
    )
    clock.advance(days=1, minutes=30)
    assert await bot.app.scheduler.fire_due() == 1
    assert await counts(bot) == (1, 1)


async def test_an_old_preview_cannot_be_sent(bot: Bot, clock: Clock) -> None:
    await bot("/announce cork Old preview")
    clock.advance(hours=25)
    assert await bot("1") == (
        "The preview of announcement #1 is too old to send: announce it again to see who it "
        "reaches today."
    )
    await bot("/announce cork Soon --at in 1h")
    clock.advance(hours=2)  # pressed too late: its time has passed
    assert await bot("1") == (
        "Announcement #2 was to go out at a time that is now past: announce it again with a new "
        "time, or without --at to send it now."
    )
    assert await counts(bot) == (0, 0)


async def test_only_the_author_sends_a_draft_and_others_do_not_see_it(bot: Bot) -> None:
    await bot("carol@dm: /lang en")
    await bot("/coordinator add carol cork")
    await bot("/announce cork Mine")
    assert await bot("carol@dm: /announce list") == "No announcement is scheduled."
    assert await bot("carol@dm: /announce send 1") == (
        "Only the coordinator who wrote announcement #1 can send it."
    )
    assert await counts(bot) == (0, 0)


async def test_delete_is_for_sent_announcements(bot: Bot) -> None:
    await bot("/announce cork Draft")
    assert await bot("/announce delete 1") == (
        "Announcement #1 was not sent, so there is nothing to delete; "
        "/announce cancel 1 makes sure it never goes out."
    )
    assert await bot("/announce delete") == (
        "Which announcement should I delete? Give its id, e.g. /announce delete 12.\n"
        "Usage: /announce delete <id>"
    )
    assert await bot("/announce list --yes") == (
        "I don't know the option --yes.\nUsage: /announce list"
    )


async def test_at_typed_in_a_private_chat_is_read_in_the_target_council_zone(bot: Bot) -> None:
    reply = await bot("admin@dm: /announce malaga Hola --at 2026-12-02 10:00")
    assert reply.startswith(
        f"I read the time in Europe/Madrid, the time zone of {MALAGA_TEXT}.\n📣 Announcement"
    )
    assert "on Wed 2 Dec, 10:00 CET. Nothing is sent" in reply
    async with bot.app.sessionmaker() as session:
        at = await session.scalar(select(Announcement.scheduled_at))
    assert at.replace(tzinfo=UTC) == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


async def test_targets_in_several_zones_say_which_zone_the_time_was_read_in(
    bot: Bot, clock: Clock
) -> None:
    reply = await bot("/announce cork,bologna Hi --at 2026-12-02 10:00")
    assert reply.startswith(f"I read the time in Europe/Dublin, the time zone of {CORK_TEXT}.\n")
    assert "on Wed 2 Dec, 10:00 GMT. Nothing is sent" in reply
    assert await bot("1") == (
        f"Announcement #1 will go out on Wed 2 Dec, 10:00 GMT to {BOLOGNA_TEXT}, {CORK_TEXT}. "
        "/announce cancel 1 cancels it."
    )
    # One announcement, one zone (the one its time was read in), wherever it is asked.
    for chat in ("cork-chat", "bologna-chat", "dm"):
        assert await bot(f"admin@{chat}: /announce list") == (
            "Scheduled announcements\n#1 · Wed 2 Dec, 10:00 GMT · bologna, cork · Hi"
        )
        assert await bot(f"admin@{chat}: /deliveries 1") == (
            "Announcement #1 is scheduled for Wed 2 Dec, 10:00 GMT; nothing was sent yet."
        )
    clock.advance(days=1, hours=1)  # 10:00 GMT, 11:00 CET
    assert await bot.app.scheduler.fire_due() == 1
    clock.advance(minutes=5)
    assert await bot("admin@bologna-chat: /announce cancel 1") == (
        "Announcement #1 was already sent on Wed 2 Dec, 10:00 GMT, so it can no longer be "
        "cancelled. /deliveries 1 shows how it went."
    )


async def test_an_announcement_from_before_its_zone_was_kept_shows_its_first_council_zone(
    bot: Bot,
) -> None:
    await bot("/announce cork,bologna Hi --at 2026-12-02 10:00 --yes")
    async with bot.app.sessionmaker() as session, session.begin():
        item = await session.get(Announcement, 1)
        assert item is not None and item.timezone == "Europe/Dublin"
        item.timezone = None  # as rows written before 0009 kept it
    assert await bot("/announce list") == (  # Bologna's, the first of its councils by slug
        "Scheduled announcements\n#1 · Wed 2 Dec, 11:00 CET · bologna, cork · Hi"
    )


async def test_a_member_reads_every_council_announcement_in_their_own_language(
    bot: Bot, console_out: io.StringIO
) -> None:
    """Bob's home is Cork and Carla's Bologna; neither chose a language with /lang."""
    await bot("bob@dm: /start cork")
    await bot("carla@dm: /start bologna")
    for person in ("bob", "carla"):
        await bot(f"{person}@dm: /subscribe announcements all")
    await bot("admin@bologna-chat: /link bologna")
    await bot("admin@malaga-chat: /link malaga")
    await bot("/announce bologna Ciao a tutti --yes")
    await bot("/announce malaga Hola a todos --yes")
    await bot.app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    italian = bot.app.catalogs.translator("it")
    spanish = bot.app.catalogs.translator("es")

    def header(t, council: str) -> str:
        return str(t("📣 <b>Announcement — {councils}</b>", councils=council)).replace("<b>", "")

    for council, text, chat, chat_t in (
        (BOLOGNA_TEXT, "Ciao a tutti", "bologna-chat", italian),
        (MALAGA_TEXT, "Hola a todos", "malaga-chat", spanish),
    ):
        in_chat = header(chat_t, council).replace("</b>", "")
        assert f"[to {chat}] {in_chat}\n{text}\n" in printed
        assert f"[to dm:bob] 📣 Announcement — {council}\n{text}\n" in printed
        to_carla = header(italian, council).replace("</b>", "")
        assert f"[to dm:carla] {to_carla}\n{text}\n" in printed


async def test_the_preview_speaks_the_coordinator_language(bot: Bot) -> None:
    await bot("/lang es")
    reply = await bot("/announce cork Hola")
    assert "Vista previa del anuncio #1: llega a 1 chat y 0 suscriptores en Cork, ahora." in reply
    assert reply.endswith("[1] Enviar  [2] Editar  [3] Cancelar")


async def test_two_presses_of_send_at_once_queue_it_once(bot: Bot) -> None:
    """Two devices, or a double tap: the draft's row lock lets one press send it."""
    await bot("bob@dm: /subscribe announcements cork")
    await bot("/announce cork Once")
    answers = await asyncio.gather(bot("/announce send 1"), bot("admin@dm: /announce send 1"))
    assert sorted(answers) == [
        "Announcement #1 is on its way to 1 chat and 1 subscriber. /deliveries 1 shows how it "
        "goes.",
        "Announcement #1 was already sent on Tue 1 Dec, 09:00 GMT. /deliveries 1 shows how it went.",
    ]
    assert await counts(bot) == (2, 0)


async def test_announce_list_shows_scheduled_ones_then_drafts_with_how_to_send_them(
    bot: Bot, clock: Clock
) -> None:
    await bot("/announce cork Planned --at tomorrow 09:30 --yes")
    await bot("/announce cork Now or never")
    await bot("/announce cork Soon --at in 1h")
    clock.advance(hours=2)  # the third draft's time has passed
    assert await bot("admin@dm: /announce list") == (
        "Scheduled announcements\n"
        "#1 · Wed 2 Dec, 09:30 GMT · cork · Planned\n"
        "\n"
        "Your drafts (nothing is sent until you send them)\n"
        "#2 · on Send · cork · Now or never · /announce send 2\n"
        "#3 · Tue 1 Dec, 10:00 GMT, now past: announce it again · cork · Soon"
    )


async def test_slips_in_announce_get_answers_that_say_what_to_do(bot: Bot, clock: Clock) -> None:
    assert await bot("/announce lisst") == (
        "/announce has no form “lisst”. Did you mean /announce list?\n"
        "Usage: /announce <councils|all> <text> [--at <when>] [--yes] · /announce list · "
        "/announce send <id> · /announce cancel <id> · /announce edit <id> <text> · "
        "/announce delete <id>"
    )
    assert (await bot("/announce corq")).startswith(
        "There is no council “corq”. Did you mean cork?"
    )
    assert (await bot("/announce delet 3")).startswith(
        "/announce has no form “delet”. Did you mean /announce delete?"
    )
    assert (await bot("/announce cork,all Hello")).startswith(
        "“all” stands alone: write all, or name the councils."
    )
    assert (await bot("/announce cork Late --at today 08:00")).startswith(
        "Tue 1 Dec, 08:00 GMT has already passed: it is Tue 1 Dec, 09:00 GMT there. "
        "Give a later time."
    )
    await bot("bob@dm: /lang en")
    await bot("/coordinator add bob cork")
    refusal = await bot("bob@dm: /announce all Hello")
    assert refusal.startswith(
        "Announcing to all councils needs an admin, or a coordinator of every council; you do "
        "not coordinate Madrid council, "
    )
    assert refusal.endswith("Name the councils you coordinate instead.")
    assert await counts(bot) == (0, 0)


async def test_a_time_counted_from_now_needs_no_word_about_zones(bot: Bot) -> None:
    reply = await bot("/announce cork,istanbul Soon --at in 2h")
    assert "I read the time in" not in reply
    assert "on Tue 1 Dec, 11:00 GMT" in reply
    # A wall-clock time is read in this chat's council's zone, and the note names that council.
    reply = await bot("/announce cork,istanbul Later --at tomorrow 10:00")
    assert reply.startswith(f"I read the time in Europe/Dublin, the time zone of {CORK_TEXT}.")


async def test_edit_and_delete_say_when_there_is_nothing_to_do(bot: Bot) -> None:
    await bot("/announce cork Desks are free --yes")
    assert await bot("/announce edit 1 Desks are free") == (
        "Announcement #1 already says that; nothing changed."
    )
    await bot("/announce cork Never mind")
    await bot("/announce cancel 2")
    assert await bot("/announce delete 2") == (
        "Announcement #2 was cancelled, so nothing was sent and there is nothing to delete."
    )

"""What the user trial of the magazine found (issue 14): only its author or an admin may
cancel or correct an issue, /magazine says what became of an issue not out yet, and an
edit speaks each chat's language, its Read button included."""

from __future__ import annotations

import io

from tests.conftest import Bot
from tests.integration.test_magazine import issues

SIX = '/publish 6 "Six" https://e.example/6 --at "tomorrow 09:00"'


async def coordinators(bot: Bot) -> None:
    """bob coordinates Cork, carl Istanbul."""
    for who, council in (("bob", "cork"), ("carl", "istanbul")):
        await bot(f"{who}@dm: /lang en")
        await bot(f"/coordinator add {who} {council}")


async def test_only_the_author_or_an_admin_may_cancel_or_edit_an_issue(
    bot: Bot, console_out: io.StringIO
) -> None:
    await coordinators(bot)
    await bot('bob@dm: /publish 5 "Five" https://e.example/5 --yes')
    await bot("bob@dm: " + SIX)
    assert (await bot("bob@dm: 1")).startswith("EMPOWER #6 will go out on Wed 2 Dec, 09:00 UTC")
    assert await bot("carl@dm: /publish cancel 6") == (
        "Only bob, who published issue #6, or an admin can cancel it; "
        "ask them, or /magazine 6 shows it."
    )
    assert await bot('carl@dm: /publish edit 5 --summary "carl was here"') == (
        "Only bob, who published issue #5, or an admin can correct it; "
        "ask them, or /magazine 5 shows it."
    )
    assert "carl was here" not in await bot("carl@dm: /magazine 5")
    assert (await bot('bob@dm: /publish edit 5 --summary "bob fixed it"')).startswith(
        "Issue #5 is corrected"
    )
    assert (await bot('/publish edit 5 --summary "the admin too"')).startswith(
        "Issue #5 is corrected"
    )
    assert await bot("/publish cancel 6") == "Issue #6 is cancelled; nothing was sent."
    gone = (
        "There is no issue #6 waiting to go out: it was never previewed, or it was "
        "cancelled and nothing was sent. /magazine archive lists the published issues."
    )
    assert await bot("/publish cancel 6") == gone
    assert await bot("bob@dm: /publish send 6") == gone
    assert [number for number, _ in await issues(bot)] == [5]
    await bot.app.dispatcher.run_until_idle()
    told = [line for line in console_out.getvalue().split("\n\n") if "[to dm:bob]" in line]
    assert told == [
        "[to dm:bob] admin corrected EMPOWER #5, which you published. /magazine 5 shows it.",
        "[to dm:bob] admin cancelled EMPOWER #6, which you had scheduled; nothing was sent.",
    ]  # bob's own changes are not told to him
    assert "Only its author or an admin can cancel or correct an issue." in await bot(
        "carl@dm: /help publish"
    )


async def test_an_issue_not_out_yet_is_named_as_such(bot: Bot) -> None:
    await coordinators(bot)
    await bot("bob@dm: " + SIX + " --yes")
    scheduled = (
        "Issue #6 is scheduled for Wed 2 Dec, 09:00 {zone}; it is not in the archive yet. "
        "/publish cancel 6 cancels it."
    )
    assert await bot("bob@dm: /magazine 6") == scheduled.format(zone="UTC")
    assert await bot("/magazine 6") == scheduled.format(zone="GMT")  # an admin, in Cork
    assert await bot("carl@dm: /magazine 6") == "Issue #6 is not out yet."
    assert await bot("zoe@dm: /magazine 6") == "Issue #6 is not out yet."
    assert await bot("zoe@dm: /magazine 7") == "There is no issue #7 in the archive."
    await bot('bob@dm: /publish 7 "Seven" https://e.example/7')  # a preview, not sent
    assert await bot("bob@dm: /magazine 7") == (
        "Issue #7 is your preview, not sent yet: /publish send 7 sends it, "
        "/publish cancel 7 drops it."
    )
    assert await bot("zoe@dm: /magazine 7") == "There is no issue #7 in the archive."


async def test_an_edit_speaks_the_chats_language_buttons_included(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot('/publish 5 "Five" https://e.example/5 --yes')
    await bot.app.dispatcher.run_until_idle()
    await bot("/lang tr chat")
    await bot('/publish edit 5 --summary "Beş"')
    await bot.app.dispatcher.run_until_idle()
    edited = console_out.getvalue().split("[edited in cork-chat, message 1] ")[1]
    assert edited.startswith("📰 EMPOWER #5: Five\nBeş\n[1] Oku (https://e.example/5)")

"""Polls after a user trial (issue 13): what the trial's members typed and what they now see."""

from __future__ import annotations

import asyncio
import io

from tests.conftest import Bot

MULTI = "/unvote 1 takes them back."


async def test_a_typed_multiple_choice_vote_replaces_and_a_button_ticks_or_unticks(
    bot: Bot,
) -> None:
    await bot('/poll "Which days?" "Mon" "Tue" "Wed" "Thu" --multi --yes')
    assert (
        await bot("alice@cork-chat: /vote 1 1 3") == f"Your choices in poll #1: Mon, Wed. {MULTI}"
    )
    assert await bot("alice@cork-chat: /vote 1 2") == f"Your choices in poll #1: Tue. {MULTI}"
    # Several options by their text.
    assert await bot("alice@cork-chat: /vote 1 mon thu") == (
        f"Your choices in poll #1: Mon, Thu. {MULTI}"
    )
    assert await bot("alice@cork-chat: /vote 1 tue, wed") == (
        f"Your choices in poll #1: Tue, Wed. {MULTI}"
    )
    # The member's own view ticks what they chose; a button ticks or unticks its option.
    assert await bot("alice@cork-chat: /vote 1") == (
        "Poll #1: Which days?\nYou chose: Tue, Wed.\n[1] ☐ Mon  [2] ☑ Tue  [3] ☑ Wed  [4] ☐ Thu"
    )
    assert await bot("alice@cork-chat: 1") == f"Your choices in poll #1: Mon, Tue, Wed. {MULTI}"
    assert await bot("alice@cork-chat: /vote 1 toggle 2") == (
        f"Your choices in poll #1: Mon, Wed. {MULTI}"
    )
    assert "1. Mon ▇▇▇▇▇▇▇▇▇▇ 1 (100%)\n2. Tue 0 (0%)\n3. Wed ▇▇▇▇▇▇▇▇▇▇ 1 (100%)" in (
        await bot("/results 1")
    )
    await bot("alice@cork-chat: /vote 1 toggle 1")
    assert await bot("alice@cork-chat: /vote 1 toggle 3") == (
        "You have no choices left in poll #1: your vote is taken back."
    )
    assert "0 voters" in await bot("/results 1")
    # Two typed votes at once: one replaces the other whole, never a mix of both.
    await asyncio.gather(bot("alice@cork-chat: /vote 1 1 2"), bot("alice@cork-chat: /vote 1 3 4"))
    assert (await bot("alice@cork-chat: /vote 1")).split("\n")[1] in (
        "You chose: Mon, Tue.",
        "You chose: Wed, Thu.",
    )


async def test_answers_added_with_other_become_options_everyone_can_pick(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot('/poll "Next topic?" "Lean" "AI" --other --yes')
    assert (await bot("alice@cork-chat: /vote 1 other Robotics")).startswith(
        "Your vote in poll #1: Robotics."
    )
    assert await bot("dave@cork-chat: /vote 1") == (
        "Poll #1: Next topic?\nPick an option:\n[1] Lean  [2] AI  [3] Robotics  [4] Other…"
    )
    assert (await bot("dave@cork-chat: 3")).startswith("Your vote in poll #1: Robotics.")
    assert (await bot("erin@cork-chat: /vote 1 robotics")).startswith(
        "Your vote in poll #1: Robotics."
    )
    await bot.app.dispatcher.run_until_idle()
    edited = console_out.getvalue().split("[edited in cork-chat")[-1]
    assert "[1] Lean  [2] AI  [3] Robotics  [4] Other…" in edited
    # With hidden counts too, the posts get the new option's button.
    await bot('/poll "Venue?" "Park" "Campus" --other --results after-close --yes')
    await bot("alice@cork-chat: /vote 2 other Beach")
    await bot.app.dispatcher.run_until_idle()
    edited = console_out.getvalue().split("[edited in cork-chat")[-1]
    assert "Poll #2" in edited and "[1] Park  [2] Campus  [3] Beach  [4] Other…" in edited
    # A multiple-choice voter ticks options and adds their own answer at once.
    await bot('/poll "Formats?" "Talks" "Visits" --multi --other --yes')
    assert await bot("alice@cork-chat: /vote 3 1 other Hackathon") == (
        "Your choices in poll #3: Talks, Hackathon. /unvote 3 takes them back."
    )
    assert await bot("alice@cork-chat: /vote 3 other Picnic") == (
        "Your choices in poll #3: Talks, Hackathon, Picnic. /unvote 3 takes them back."
    )


async def test_closes_takes_a_date_alone_as_the_end_of_that_day(bot: Bot) -> None:
    for typed, day in (("friday", "Fri 4 Dec"), ("03/12", "Thu 3 Dec"), ("tomorrow", "Wed 2 Dec")):
        preview = await bot(f'/poll "Lunch?" "Yes" "No" --closes {typed}')
        assert f"“{typed}” alone means the end of that day: the poll closes {day}, 23:59 GMT." in (
            preview
        ), preview
    assert (await bot('/poll "Lunch?" "Yes" "No" --closes yesterday')).startswith(
        "The closing time has already passed."
    )


async def test_refusals_and_warnings_the_trial_asked_for(bot: Bot) -> None:
    assert await bot('/poll Missing quotes "A" "B" --yes') == (
        'Put the question in quotes too, like the options: /poll "Missing quotes" "Yes" "No". '
        "Without them I can't tell where the question ends.\n"
        'Usage: /poll "<question>" "<option>" "<option>" ... [--multi] [--rating] [--anonymous] '
        "[--closes <when>] [--to <councils|all>] [--results after-close] [--every week|month] "
        "[--other] [--no-reminder] · /poll send <id> · /poll edit <id> · /poll cancel <id>"
    )
    assert await bot("/vote 1") == "There is no poll #1."
    # A council with no linked chat: the preview says only subscribers get it there.
    preview = await bot('/poll "Lunch?" "Yes" "No" --to alcala')
    assert "is linked: there only members subscribed to polls get it (/subscribe polls)." in (
        preview
    )
    # A set-aside draft is no poll, whatever is asked of it.
    assert (await bot("2")).startswith("Poll #1 is set aside.")
    for asked in ("/vote 1 1", "/closepoll 1", "/remindpoll 1", "/results 1"):
        assert await bot(asked) == "There is no poll #1.", asked
    # /help poll in Spanish translates every placeholder.
    await bot("eve@dm: /start malaga")
    assert '/poll "<pregunta>" "<opción>"' in await bot("eve@dm: /help poll")


async def test_ratings_marks_similar_options_and_the_open_polls_list(bot: Bot) -> None:
    await bot('/poll "Rate the workshop" --rating --yes')
    assert (await bot("bob@cork-chat: /vote 1 7")).startswith(
        "Give a mark from 1 to 5 in poll #1, e.g. /vote 1 4."
    )
    assert (await bot("bob@cork-chat: /vote 1 4")).startswith("Your vote in poll #1: ★4.")
    assert (await bot("bob@cork-chat: /vote 1 ★4")).startswith("You had already voted ★4")
    assert "★1 0 (0%)\n★2 0 (0%)\n★3 0 (0%)\n★4 ▇▇▇▇▇▇▇▇▇▇ 1 (100%)\n★5 0 (0%)" in (
        await bot("/results 1")
    )
    await bot('/poll "Workshop?" "Agile" "AI" --yes')
    assert (await bot("bob@cork-chat: /vote 2 a")).startswith(
        "“a” fits more than one option: 1. Agile, 2. AI. Type more of it, or its number."
    )
    assert await bot("bob@cork-chat: /polls") == (
        "📊 Open polls\n#1 Rate the workshop — you voted\n#2 Workshop?\n"
        "[1] Vote in #1  [2] Vote in #2"
    )
    assert (await bot("bob@cork-chat: 2")).startswith("Poll #2: Workshop?\nPick an option:")
    assert await bot("bob@dm: /polls") == "No poll is open for you to vote in right now."

"""Polls on the console, end to end: the preview, votes by number, text and buttons, one vote
per member (also from two requests at once and from linked accounts), anonymity, hidden
results, closing on time after a restart, reminders to non-voters only, recurring rounds."""

from __future__ import annotations

import asyncio
import io

from pydantic import SecretStr
from sqlalchemy import select, text

from councilbot.adapters.console import ConsoleChat
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Chat, ChatKind, Command, Platform
from councilbot.core.messages import Identity as MessageIdentity
from councilbot.db.models import Identity, Job, JobState, Poll, PollPost, PollStatus, PollVote
from tests.conftest import CORK_TEXT, START, Bot, Clock

BUTTONS = "[1] Send  [2] Edit  [3] Cancel"


async def poll_rows(bot: Bot) -> list[tuple[int, int, int]]:
    """Return the stored votes: (member, slot, option position)."""
    async with bot.app.sessionmaker() as session:
        votes = await session.scalars(select(PollVote).order_by(PollVote.member_id, PollVote.slot))
        return [(v.member_id, v.slot, v.option_id) for v in votes]


async def test_preview_send_vote_change_unvote_and_results(
    bot: Bot, console_out: io.StringIO
) -> None:
    preview = await bot(
        '/poll "Which workshop?" "Lean" "Agile" "Six Sigma" --closes tomorrow 17:00'
    )
    assert preview == (
        f"📊 Poll #1 — {CORK_TEXT}\nWhich workshop?\n"
        "1. Lean 0 (0%)\n2. Agile 0 (0%)\n3. Six Sigma 0 (0%)\n0 voters\n"
        "Closes Wed 2 Dec, 17:00 GMT.\n"
        "Not anonymous: coordinators can see who voted for what.\n"
        "Vote with the buttons, or type /vote 1 and your choice.\n\n"
        "Preview of poll #1: it goes to 1 chat and 0 subscribers in Cork, now. Nothing is sent "
        "until you press Send.\n" + BUTTONS
    )
    assert await bot("bob@cork-chat: /vote 1 2") == "Poll #1 has not been sent yet."
    assert await bot("1") == (
        "Poll #1 is open: it went to 1 chat and 0 subscribers.\n"
        "It closes by itself Wed 2 Dec, 17:00 GMT; /closepoll 1 closes it sooner.\n"
        "/results 1 shows the results."
    )
    await bot.app.dispatcher.run_until_idle()
    assert "[to cork-chat] 📊 Poll #1" in console_out.getvalue()
    assert "[1] Lean  [2] Agile  [3] Six Sigma" in console_out.getvalue()
    # By number, by text (any case), and by pressing a numbered button.
    assert await bot("bob@cork-chat: /vote 1 2") == (
        "Your vote in poll #1: Agile. Vote again to change it; /unvote 1 takes it back."
    )
    assert await bot("carol@cork-chat: /vote 1 six sigma") == (
        "Your vote in poll #1: Six Sigma. Vote again to change it; /unvote 1 takes it back."
    )
    assert await bot("dan@cork-chat: /vote 1") == (
        "Poll #1: Which workshop?\nPick an option:\n[1] Lean  [2] Agile  [3] Six Sigma"
    )
    assert (await bot("dan@cork-chat: 1")).startswith("Your vote in poll #1: Lean.")
    # Voting again replaces the vote; /unvote takes it back.
    assert (await bot("carol@cork-chat: /vote 1 lean")).startswith("Your vote in poll #1: Lean.")
    assert await bot("bob@cork-chat: /unvote 1") == "Your vote in poll #1 is taken back."
    assert await bot("bob@cork-chat: /unvote 1") == (
        "You have not voted in poll #1; nothing to take back."
    )
    assert await bot("bob@cork-chat: /vote 1 Kanban") == (
        "Poll #1 has no option “Kanban”. Its options: 1. Lean, 2. Agile, 3. Six Sigma.\n"
        "Usage: /vote <poll> [<option>]"
    )
    assert len(await poll_rows(bot)) == 2
    reply = await bot.reply("/results 1")
    assert bot.app and reply.file is not None and reply.file.data.startswith(b"\x89PNG")
    assert await bot("/results 1") == (
        "📊 Results of poll #1 (open)\nWhich workshop?\n"
        "1. Lean ▇▇▇▇▇▇▇▇▇▇ 2 (100%)\n2. Agile 0 (0%)\n3. Six Sigma 0 (0%)\n"
        "2 voters · Votes by platform: Console 2\n"
        f"(file: poll-1.png, {len(reply.file.data)} bytes)"
    )
    # The post's counts are edited in place.
    await bot.app.dispatcher.run_until_idle()
    assert "[edited in cork-chat, message 1]" in console_out.getvalue()
    assert "1. Lean ▇▇▇▇▇▇▇▇▇▇ 2 (100%)" in console_out.getvalue().split("[edited")[-1]
    # CSV for coordinators: counts and who voted what.
    csv_reply = await bot.reply("/results 1 csv")
    assert csv_reply.file is not None
    lines = csv_reply.file.data.decode().splitlines()
    assert lines[:4] == ["option,label,other,votes", "1,Lean,,2", "2,Agile,,0", "3,Six Sigma,,0"]
    assert sorted(line.split(",")[0] for line in lines[6:]) == ["carol", "dan"]
    assert await bot("carol@cork-chat: /results 1 csv") == (
        "Only the author of poll #1, an admin or a coordinator of its councils can do that."
    )
    # Closing: the buttons go, the final results are posted where the poll was.
    assert await bot("carol@cork-chat: /closepoll 1") == "Only coordinators can use /closepoll."
    assert await bot("/closepoll 1") == (
        "Poll #1 is closed; its final results are posted where it was. /results 1 shows them."
    )
    await bot.app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    assert f"📊 Poll #1 — {CORK_TEXT} (closed)" in out
    assert f"[to cork-chat] 📊 Final results of poll #1 — {CORK_TEXT}" in out
    assert "(file: poll-1.png," in out
    assert await bot("dan@cork-chat: /vote 1 2") == (
        "Poll #1 is closed; /results 1 shows how it went."
    )


async def test_multiple_choice_other_answers_and_one_vote_per_option(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot('/poll "Topics?" "AI" "Energy" --multi --other --yes')
    assert await bot("bob@cork-chat: /vote 1 1 2") == (
        "Your choices in poll #1: AI, Energy. /unvote 1 takes them back."
    )
    assert await bot("bob@cork-chat: /vote 1 ai") == (  # a typed vote replaces the choices
        "Your choices in poll #1: AI. /unvote 1 takes them back."
    )
    assert await bot("bob@cork-chat: /vote 1 other") == (
        "Type your own answer: /vote 1 other Your answer"
    )
    assert await bot("bob@cork-chat: /vote 1 other Water") == (
        "Your choices in poll #1: AI, Water. /unvote 1 takes them back."
    )
    assert (await bot("carol@cork-chat: /vote 1 other water")).startswith(
        "Your choices in poll #1: Water."
    )
    assert len(await poll_rows(bot)) == 3  # one per member and option
    results = await bot("/results 1")
    assert "3. Water ▇▇▇▇▇▇▇▇▇▇ 2 (100%)" in results
    assert "1. AI ▇▇▇▇▇ 1 (50%)" in results
    assert "2 voters" in results
    csv_reply = await bot.reply("/results 1 csv")
    assert csv_reply.file is not None and "3,Water,yes,2" in csv_reply.file.data.decode()
    # A single-choice poll takes one option.
    await bot('/poll "Lunch?" "Yes" "No" --yes')
    assert await bot("bob@cork-chat: /vote 2 1 2") == (
        "Poll #2 has no option “1 2”. Its options: 1. Yes, 2. No.\nUsage: /vote <poll> [<option>]"
    )


async def test_one_vote_from_concurrent_requests_and_from_linked_accounts(
    bot: Bot, app_for
) -> None:
    await bot("bob@dm: /start cork")  # a Cork member: may vote from his direct messages too
    await bot('/poll "Lunch?" "Yes" "No" --yes')
    await bot('/poll "Topics?" "AI" "Energy" --multi --yes')
    await asyncio.gather(*(bot(f"bob@cork-chat: /vote 1 {1 + n % 2}") for n in range(8)))
    await asyncio.gather(*(bot("bob@cork-chat: /vote 2 1") for _ in range(6)))
    rows = await poll_rows(bot)
    assert len([r for r in rows if r[2] in (1, 2)]) == 1  # poll 1: options 1 and 2
    assert len([r for r in rows if r[2] in (3, 4)]) == 1
    # bob's Telegram account, linked to the same member, has the same one vote.
    async with bot.app.sessionmaker() as session, session.begin():
        bob = await session.scalar(select(Identity).where(Identity.user_id == "bob"))
        assert bob is not None
        session.add(
            Identity(
                member_id=bob.member_id,
                platform=Platform.TELEGRAM,
                workspace="",
                user_id="777",
                created_at=START,
                last_seen_at=START,
            )
        )
    sender = MessageIdentity(platform=Platform.TELEGRAM, user_id="777")
    chat = Chat(platform=Platform.TELEGRAM, chat_id="777", kind=ChatKind.PRIVATE)
    reply = await bot.app.router.handle(
        Command(name="vote", args="1 no", sender=sender, chat=chat, received_at=START)
    )
    assert "No" in reply.text and reply.error is None
    assert len([r for r in await poll_rows(bot) if r[2] in (1, 2)]) == 1
    results = await bot("/results 1")
    assert "2. No ▇▇▇▇▇▇▇▇▇▇ 1 (100%)" in results
    assert "1 voter · Votes by platform: Telegram 1" in results


async def test_anonymous_votes_leave_no_link_between_member_and_option(bot: Bot) -> None:
    preview = await bot('/poll "Rate the quarter" --rating --anonymous --yes')
    assert "--anonymous: the bot keeps only the counts, never who chose what" in await bot(
        "/help poll"
    )
    assert preview.startswith("Poll #1 is open")
    assert await bot("bob@cork-chat: /vote 1 4") == (
        "Your anonymous vote in poll #1 is counted. Nobody can see what you chose."
    )
    await bot("carol@cork-chat: /vote 1 5")
    assert await bot("bob@cork-chat: /vote 1 2") == (
        "You have already voted in anonymous poll #1. Since nobody knows what you chose, not "
        "even the bot, an anonymous vote cannot be changed or taken back."
    )
    await asyncio.gather(*(bot("dan@cork-chat: /vote 1 3") for _ in range(5)))
    results = await bot("/results 1")
    assert "3 voters · Average: 4.0 out of 5 · Votes by platform: Console 3" in results
    csv_reply = await bot.reply("/results 1 csv")
    assert csv_reply.file is not None and "member" not in csv_reply.file.data.decode()
    # No table holds a member id, name or identity next to an option of this poll.
    async with bot.app.engine.connect() as conn:
        members = {row[0] for row in await conn.execute(text("SELECT id FROM members"))}
        assert (await conn.execute(text("SELECT count(*) FROM poll_votes"))).scalar() == 0
        ballots = (await conn.execute(text("SELECT * FROM poll_ballots"))).all()
        counts = (await conn.execute(text("SELECT * FROM poll_counts"))).mappings().all()
        turnout = (await conn.execute(text("SELECT * FROM poll_turnout"))).mappings().all()
    assert len(ballots) == 3 and all(len(row) == 2 and len(row[1]) == 64 for row in ballots)
    # Counts per option, never per option and platform (few voters on a platform would show
    # their choice); how many voted from each platform is kept apart, whatever they chose.
    assert set(counts[0]) == {"option_id", "count"}
    assert sorted(row["count"] for row in counts if row["count"]) == [1, 1, 1]
    assert len(counts) == 5  # every option, most at 0
    assert set(turnout[0]) == {"poll_id", "platform", "voters"}
    assert sorted((row["platform"], row["voters"]) for row in turnout) == [
        ("console", 3),
        ("slack", 0),
        ("telegram", 0),
    ]
    for row in ballots:
        assert not any(str(m) == row[1] for m in members)
    if bot.app.engine.dialect.name == "postgresql":
        # Each vote rewrites every count row of its poll: no row version (xmin) tells which
        # options the last voter's transaction chose.
        async with bot.app.engine.connect() as conn:
            for table in ("poll_counts", "poll_options"):
                versions = await conn.execute(text(f"SELECT DISTINCT xmin::text FROM {table}"))
                assert len(versions.all()) == 1


async def test_with_a_poll_secret_the_ballots_key_is_not_in_the_database(
    app: App, clock: Clock, catalogs: Catalogs
) -> None:
    settings = app.settings.model_copy(update={"poll_secret": SecretStr("s3cret-for-polls")})
    keyed = await build_app(settings, engine=app.engine, catalogs=catalogs, clock=clock)
    try:
        chat = ConsoleChat(
            keyed.router, user="admin", chat="cork-chat", council="cork", clock=clock
        )
        await chat.setup()
        await chat.say('/poll "Rate it" --rating --anonymous --yes')
        reply = await chat.say("bob@cork-chat: /vote 1 4")
        assert reply is not None and "is counted" in reply.text
        reply = await chat.say("bob@cork-chat: /vote 1 5")
        assert reply is not None and "already voted" in reply.text
    finally:
        await keyed.aclose()
    async with app.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM poll_keys"))).scalar() == 0
        assert (await conn.execute(text("SELECT count(*) FROM poll_ballots"))).scalar() == 1


async def test_results_after_close_are_hidden_from_everyone_until_closing(bot: Bot) -> None:
    await bot('/poll "Budget?" "More" "Less" --results after-close --closes in 2 days --yes')
    await bot("bob@cork-chat: /vote 1 more")
    hidden = (
        "Nobody sees the results of poll #1, its author included, until it closes "
        "Thu 3 Dec, 09:00 GMT."
    )
    assert await bot("/results 1") == hidden
    assert await bot("/results 1 csv") == hidden
    await bot("/closepoll 1")
    assert "1. More ▇▇▇▇▇▇▇▇▇▇ 1 (100%)" in await bot("/results 1")


async def test_closes_on_time_after_a_restart_and_reminds_only_non_voters_once(
    bot: Bot, clock: Clock, app_for, console_out: io.StringIO
) -> None:
    await bot("bob@dm: /start cork")
    await bot("carol@dm: /start cork")
    await bot("dan@dm: /start cork")
    await bot('/poll "Venue?" "Park" "Campus" --closes in 3 days --yes')
    await bot("bob@cork-chat: /vote 1 park")
    # A reminder by hand reaches carol and dan, who live in Cork and have not voted.
    assert await bot("/remindpoll 1") == "I reminded 2 members who had not voted in poll #1."
    assert await bot("/remindpoll 1") == (
        "Nobody to remind in poll #1: everyone asked has voted or was reminded already."
    )
    await bot.app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    assert "[to dm:carol] 🔔 You have not voted yet in poll #1:\nVenue?\nIt closes" in out
    assert "[to dm:dan]" in out and "[to dm:bob]" not in out
    # The automatic reminder 24 h before closing finds nobody new to remind.
    clock.advance(days=2, minutes=1)
    assert await bot.app.scheduler.fire_due() == 1
    # A new process picks the closing job up from the table and fires it on time.
    restarted = await build_app(
        bot.app.settings,
        engine=bot.app.engine,
        catalogs=bot.app.router.catalogs,
        clock=clock,
        targets=bot.app.targets,
    )
    try:
        await restarted.scheduler.start()
        assert await restarted.scheduler.fire_due() == 0
        clock.advance(days=1)
        assert await restarted.scheduler.fire_due() == 1
        await restarted.dispatcher.run_until_idle()
    finally:
        await restarted.aclose()
    async with bot.app.sessionmaker() as session:
        poll = await session.get(Poll, 1)
        assert poll is not None and poll.status is PollStatus.CLOSED
        jobs = (await session.scalars(select(Job).order_by(Job.id))).all()
        assert [j.state for j in jobs] == [JobState.DONE, JobState.DONE]
    assert "Final results of poll #1" in console_out.getvalue()


async def test_the_automatic_reminder_goes_to_non_voters_and_no_reminder_turns_it_off(
    bot: Bot, clock: Clock, console_out: io.StringIO
) -> None:
    await bot("bob@dm: /start cork")
    await bot("carol@dm: /start cork")
    await bot('/poll "Venue?" "Park" "Campus" --closes in 3 days --anonymous --yes')
    await bot('/poll "Food?" "Pizza" "Salad" --closes in 3 days --no-reminder --yes')
    await bot("bob@cork-chat: /vote 1 park")
    clock.advance(days=2, minutes=1)
    assert await bot.app.scheduler.fire_due() == 1  # only poll 1 has a reminder job
    await bot.app.dispatcher.run_until_idle()
    out = console_out.getvalue()
    assert "[to dm:carol] 🔔 You have not voted yet in poll #1" in out
    assert "[to dm:bob] 🔔" not in out
    assert "poll #2" not in out


async def test_recurring_rounds_open_a_new_poll_and_compare_with_the_previous(
    bot: Bot, clock: Clock
) -> None:
    await bot('/poll "Pulse?" --rating --every week --closes in 6 days --yes')
    await bot("bob@cork-chat: /vote 1 4")
    clock.advance(days=6, minutes=1)
    assert await bot.app.scheduler.fire_due() >= 1
    await bot("bob@cork-chat: /vote 2 2")
    await bot("carol@cork-chat: /vote 2 4")
    results = await bot("/results 2")
    assert "Average: 3.0 out of 5" in results
    assert "Compared with the previous round (poll #1):" in results
    assert "4: 1 (was 1, +0)" in results and "2: 1 (was 0, +1)" in results
    assert "Average before: 4.0" in results
    async with bot.app.sessionmaker() as session:
        second = await session.get(Poll, 2)
        assert second is not None and second.previous_round_id == 1
        assert second.status is PollStatus.OPEN


async def test_an_anonymous_multiple_choice_vote_is_ticked_on_a_ballot_then_cast_once(
    bot: Bot, console_out: io.StringIO
) -> None:
    await bot('/poll "Topics?" "AI" "Energy" "Water" --multi --anonymous --yes')
    await bot.app.dispatcher.run_until_idle()
    assert "[1] AI  [2] Energy  [3] Water" in console_out.getvalue()
    assert await bot("bob@cork-chat: /vote 1") == (
        "Poll #1: Topics?\nPick an option:\n[1] AI  [2] Energy  [3] Water"
    )
    ballot = await bot("bob@cork-chat: 1")  # pressing AI opens a ballot with AI ticked
    assert ballot == (
        "Poll #1: Topics?\nTick every option you choose, then press Cast my vote. An anonymous "
        "vote cannot be changed once cast.\n[1] ☑ AI  [2] ☐ Energy  [3] ☐ Water  [4] Cast my vote"
    )
    assert (await bot("bob@cork-chat: 3")).endswith(
        "[1] ☑ AI  [2] ☐ Energy  [3] ☑ Water  [4] Cast my vote"
    )
    assert await bot("bob@cork-chat: 4") == (
        "Your anonymous vote in poll #1 is counted. Nobody can see what you chose."
    )
    assert (await bot("bob@cork-chat: /vote 1 ballot 2")).startswith(
        "You have already voted in anonymous poll #1."
    )
    results = await bot("/results 1")
    assert "1. AI ▇▇▇▇▇▇▇▇▇▇ 1 (100%)\n2. Energy 0 (0%)\n3. Water ▇▇▇▇▇▇▇▇▇▇ 1 (100%)" in results
    assert "1 voter" in results


async def test_reminders_asked_twice_at_once_reach_each_member_once(
    bot: Bot, console_out: io.StringIO
) -> None:
    for name in ("bob", "carol", "dan"):
        await bot(f"{name}@dm: /start cork")
    await bot('/poll "Venue?" "Park" "Campus" --yes')
    answers = await asyncio.gather(*(bot("/remindpoll 1") for _ in range(4)))
    assert "I reminded 3 members who had not voted in poll #1." in answers
    assert sum(1 for a in answers if a.startswith("I reminded")) == 1
    await bot.app.dispatcher.run_until_idle()
    assert console_out.getvalue().count("🔔 You have not voted yet in poll #1") == 3


async def test_the_preview_edit_and_cancel_and_refusals_say_what_is_possible(bot: Bot) -> None:
    await bot('/poll "Lunch?" "Yes" "No" --anonymous')
    assert await bot("2") == (
        "Poll #1 is set aside. Send /poll again with your changes; it was:\n"
        '/poll "Lunch?" "Yes" "No" --anonymous'
    )
    assert await bot("/poll send 1") == (
        "Poll #1 was cancelled; put it again if you still want it."
    )
    await bot('/poll "Lunch?" "Yes" "No"')
    assert await bot("3") == "Poll #2 is cancelled; it will not be sent."
    assert (await bot('admin@dm: /poll "Lunch?" "Yes" "No"')).startswith(
        "Which councils is the poll for? Add --to and their names, e.g. --to cork,malaga."
    )
    assert (await bot('/poll "Rate" --rating --other')).startswith(
        "A rating poll takes marks only: --other does not go with it."
    )
    assert (await bot('/poll "Only one?" "Yes"')).startswith(
        'A poll needs at least two options, each in quotes: /poll "Question?" "Yes" "No".'
    )
    assert (await bot('/poll "Pulse?" --rating --every week')).startswith(
        "A recurring poll needs a closing time (--closes): each round closes at it."
    )
    # A coordinator of another council may neither close nor remind Cork's poll.
    await bot('/poll "Lunch?" "Yes" "No" --yes')
    await bot("eve@dm: /start malaga")
    await bot("/coordinator add eve malaga")
    assert await bot("eve@cork-chat: /closepoll 3") == (
        "Only the author of poll #3, an admin or a coordinator of its councils can do that."
    )
    assert await bot("eve@cork-chat: /remindpoll 3") == (
        "Only the author of poll #3, an admin or a coordinator of its councils can do that."
    )
    assert (await bot('eve@cork-chat: /poll "Q?" "A" "B"')).startswith(
        "You can only put polls to councils you coordinate; not to"
    )
    assert await bot("/vote 99 1") == "There is no poll #99."
    assert (await bot("/vote abc 1")).startswith(
        "“abc” is not a poll number: polls have numbers, like 12."
    )


async def test_an_anonymous_poll_in_a_group_points_to_its_buttons_only(
    bot: Bot, console_out: io.StringIO
) -> None:
    """Typing /vote in the group would show the voter's choice to everyone in it."""
    await bot('/poll "Rate the quarter" --rating --anonymous --yes')
    await bot('/poll "Lunch?" "Yes" "No" --yes')
    await bot.app.dispatcher.run_until_idle()
    anonymous, public = console_out.getvalue().split("[to cork-chat]")[1:3]
    assert "Vote with the buttons: only the bot sees what you press." in anonymous
    assert "/vote" not in anonymous
    assert "Vote with the buttons, or type /vote 2 and your choice." in public


async def test_a_native_poll_retraction_takes_back_only_what_was_chosen_in_telegram(
    bot: Bot,
) -> None:
    """One vote per member: a Slack or console vote that replaced a Telegram answer stays when
    the member withdraws that answer in Telegram."""
    await bot("bob@dm: /start cork")
    await bot('/poll "Lunch?" "Yes" "No" --yes')
    await bot('/poll "Topics?" "AI" "Energy" "Water" --multi --yes')
    async with bot.app.sessionmaker() as session, session.begin():
        bob = await session.scalar(select(Identity).where(Identity.user_id == "bob"))
        assert bob is not None
        session.add(
            Identity(
                member_id=bob.member_id,
                platform=Platform.TELEGRAM,
                workspace="",
                user_id="777",
                created_at=START,
                last_seen_at=START,
            )
        )
        # The native polls' ids, as the outbox would have recorded them once posted.
        session.add_all([PollPost(native_id="n1", poll_id=1), PollPost(native_id="n2", poll_id=2)])

    async def telegram(name: str, args: str) -> str:
        sender = MessageIdentity(platform=Platform.TELEGRAM, user_id="777")
        chat = Chat(platform=Platform.TELEGRAM, chat_id="777", kind=ChatKind.PRIVATE)
        reply = await bot.app.router.handle(
            Command(name=name, args=args, sender=sender, chat=chat, received_at=START)
        )
        return str(reply.text)

    assert await telegram("vote", "tg:n1 0") == "Your vote in poll #1 is counted."
    assert (await bot("bob@cork-chat: /vote 1 no")).startswith("Your vote in poll #1: No.")
    await telegram("unvote", "tg:n1")  # withdrawing the Telegram answer "Yes", replaced
    assert "2. No ▇▇▇▇▇▇▇▇▇▇ 1 (100%)" in await bot("/results 1")
    # Multiple choice: AI and Water in Telegram, Energy added on the console; then only AI
    # in Telegram: Water goes, Energy stays; withdrawing in Telegram leaves Energy.
    await telegram("vote", "tg:n2 0 2")
    await bot("bob@cork-chat: /vote 2 energy")
    await telegram("vote", "tg:n2 0")
    assert (await bot("bob@cork-chat: /vote 2")).splitlines()[1] == "You chose: AI, Energy."
    await telegram("unvote", "tg:n2")
    assert (await bot("bob@cork-chat: /vote 2")).splitlines()[1] == "You chose: Energy."

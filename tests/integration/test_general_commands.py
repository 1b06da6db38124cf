"""General commands through the real router, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from councilbot.core import messages
from councilbot.db.models import Channel, Identity, LinkCode, Member, Role, Subscription
from councilbot.services import members
from tests.conftest import Bot, Clock

CORK = "Southern Ireland council (MTU)"


async def count(bot: Bot, model, *where) -> int:
    async with bot.app.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


def code_in(markup: str) -> str:
    return markup.split("<code>")[1].split("</code>")[0]


def listed(text: str) -> set[str]:
    return {line.split(" — ")[0][1:] for line in text.split("\n") if " — " in line}


async def test_help_lists_what_each_person_may_run(bot: Bot) -> None:
    specs = bot.app.router.specs
    admin = await bot("/help")
    assert listed(admin) == set(specs)
    assert "Send /help [command] for details." in admin

    coordinating = {"announce", "deliveries", "link", "unlink", "occupancy"}
    coordinating |= {"newevent", "attendees", "cancelevent", "editevent"}
    coordinating |= {"poll", "closepoll", "remindpoll"}
    coordinating |= {"publish"}  # the magazine's (left out when events and it met on main)
    member = await bot("sam: /help")
    assert listed(member) == set(specs) - coordinating - {"coordinator"}
    assert "Admin" not in member

    assert listed(await bot("bob: /help")) == listed(member)
    assert await bot("/coordinator add bob cork") == f"bob is now a coordinator of {CORK}."
    assert listed(await bot("bob: /help")) == set(specs) - {"coordinator"}


async def test_help_explains_any_command_and_says_who_may_use_it(bot: Bot) -> None:
    detail = await bot("sam: /help link")
    assert detail.startswith("/link <council> [code]\nLink this group or channel to a council.")
    assert detail.endswith("For coordinators and admins.")
    assert (await bot("sam: /help /coordinator")).endswith("For admins.")
    assert (await bot("sam: /help announce")).endswith("For coordinators and admins.")
    assert (await bot("sam: /help whoami")).endswith(
        "Show your accounts, language, roles and subscriptions."
    )


async def test_unknown_commands_suggest_the_closest(bot: Bot) -> None:
    assert await bot("/help lnik") == "I don't know /lnik. Did you mean /link?"
    assert await bot("/cuncils") == "I don't know /cuncils. Did you mean /councils?"
    assert await bot("/zzzzzz") == "I don't know /zzzzzz. Send /help to see what I can do."


async def test_councils_lists_all_six_and_marks_this_chat(bot: Bot) -> None:
    text = await bot("/councils")
    for slug in ("malaga", "alcala", "bologna", "cork", "istanbul", "paris"):
        assert f"({slug})" in text
    assert "— Cork ◀" in text
    assert text.endswith(f"This chat is linked to {CORK}.")
    assert text.count("◀") == 1


async def test_start_in_private_chat_offers_councils_and_sets_home(bot: Bot) -> None:
    reply = await bot.reply("eve@dm: /start")
    labels = [b.label for b in reply.button_list]
    assert len(labels) == 6
    assert labels[3] == "Turkish council"  # sorted by slug: alcala, bologna, cork, istanbul...
    text = await bot("eve@dm: 4")
    # Istanbul's language is Turkish, and eve chose no language of her own: the answer is
    # in Turkish already, and says so, with the way back to the language she had.
    turkish = bot.app.catalogs.translator("tr")
    assert text == "\n".join(
        [
            turkish(
                "Your home council is now <b>{council}</b>. Times in private chats are shown in "
                "{zone}. Send /help to see what you can do.",
                council="Turkish council (technoparks, ICT)",
                zone="Europe/Istanbul",
            )
            .replace("<b>", "")
            .replace("</b>", ""),
            turkish(
                "From now on I speak to you in {language}, your council's language; "
                "/lang {code} me switches back to {previous}.",
                language="Türkçe",
                code="en",
                previous="İngilizce",
            ),
        ]
    )
    # A home council of the language already spoken changes nothing, and says nothing of it.
    assert "From now on" not in await bot("ann@dm: /start cork")
    expected = turkish("Home council: {council}", council="Turkish council (technoparks, ICT)")
    assert expected in await bot("eve@dm: /whoami")


async def test_link_needs_a_coordinator_of_the_council(bot: Bot) -> None:
    refused = await bot("bob@paris-chat: /link paris")
    assert refused == "Only coordinators of French council (Essonne) (or admins) can do that."
    assert await count(bot, Channel, Channel.external_id == "paris-chat") == 0

    assert await bot("/coordinator add bob paris") == (
        "bob is now a coordinator of French council (Essonne)."
    )
    await bot("bob: /lang en")
    linked = await bot("bob@paris-chat: /link paris")
    assert linked.startswith("This chat is now linked to French council (Essonne).")
    assert await count(bot, Channel, Channel.external_id == "paris-chat") == 1
    assert await bot("bob@paris-chat: /link paris") == (
        "This chat is already linked to French council (Essonne)."
    )
    # Moving the Cork chat away needs rights over Cork too.
    assert CORK in await bot("bob: /link paris")
    assert await count(bot, Channel, Channel.external_id == "cork-chat") == 1


async def test_link_suggests_a_council_and_refuses_private_chats(bot: Bot) -> None:
    assert await bot("/link corc") == "There is no council “corc”. Did you mean cork?"
    assert (await bot("/link xyz")).startswith(
        "There is no council “xyz”. The councils are: alcala"
    )
    assert (await bot("admin@dm: /link cork")).startswith("Only groups and channels can be linked.")
    assert await bot("/link") == "Please give the council.\nUsage: /link <council> [code]"


async def test_a_council_is_found_however_its_name_is_written(bot: Bot) -> None:
    """Accents, capitals and Turkish İ: as the bot itself writes the names."""
    assert "Andalusian council" in await bot("/link Málaga")
    assert "Andalusian council" in await bot("/link Seville")  # one of its cities
    assert "Turkish council" in await bot("/link İSTANBUL")
    assert "Southern Ireland council" in await bot("/link CORK")
    assert await bot("/subscribe announcements cork,malaga") == (
        "Please name one council at a time here: alcala, bologna, cork, istanbul, malaga, paris."
    )
    assert (await bot("/link all")) == (
        "Please name one council here, not all: alcala, bologna, cork, istanbul, malaga, paris."
    )


async def test_unlink_and_relink(bot: Bot) -> None:
    assert await bot("/unlink") == (
        f"This chat is no longer linked to {CORK}. Send /link cork to link it again."
    )
    assert await bot("/unlink") == "This chat is not linked to any council."
    assert await bot("/link bologna") == (
        "This chat is now linked to Emilia-Romagna council. Announcements and events of "
        "Emilia-Romagna council will appear here. /unlink undoes it."
    )


async def test_moving_a_chat_says_where_from(bot: Bot) -> None:
    assert await bot("/link istanbul") == (
        f"This chat moved from {CORK} to Turkish council (technoparks, ICT). Announcements "
        "and events of Turkish council (technoparks, ICT) will appear here."
    )


async def test_first_link_by_bootstrap_admin_only(bot: Bot) -> None:
    assert "Only coordinators" in await bot("mallory@new-chat: /link cork")
    assert "now linked" in await bot("admin@new-chat: /link cork")


async def test_lang_sets_the_member_language_and_the_chat_language(bot: Bot) -> None:
    reply = await bot.reply("/lang")
    assert [b.command for b in reply.button_list] == [
        "/lang en", "/lang es", "/lang it", "/lang fr", "/lang tr",
    ]  # fmt: skip
    assert reply.text == (
        "I speak to you in English. Choose another one, or send /lang auto to follow your "
        "app's language."
    )
    french = bot.app.catalogs.translator("fr")
    assert await bot("/lang fr") == french(
        "From now on I speak to you in {language}.", language="français"
    )
    assert (await bot("/help")).startswith(
        french("Here is what I can do. Send {usage} for details.", usage="")[:12]
    )
    assert await bot("/lang auto") == "I will follow your app's language from now on."
    assert (await bot("/lang xx")).startswith("I don't speak “xx”.")
    italian = bot.app.catalogs.translator("it")
    assert await bot("/lang it chat") == italian(
        "From now on I post in {language} in this chat.", language="italiano"
    )
    async with bot.app.sessionmaker() as session:
        channel = await session.scalar(select(Channel).where(Channel.external_id == "cork-chat"))
        assert channel is not None and channel.locale == "it"
    # The chat now speaks Italian, so zoe, who chose nothing, is refused in Italian.
    assert await bot("zoe: /lang es chat") == italian(
        "Only coordinators of {council} (or admins) can do that.", council=CORK
    )


async def test_lang_takes_the_scope_before_or_after_the_language(bot: Bot) -> None:
    assert await bot("/lang chat tr") == "Bundan sonra bu sohbette Türkçe paylaşım yapacağım."
    assert await bot("admin@dm: /lang chat es") == (
        "/lang chat sets the language of a group's posts; here, /lang es chooses the language I "
        "speak to you."
    )
    assert await bot("/lang CHAT es") == "A partir de ahora publico en español en este chat."
    async with bot.app.sessionmaker() as session:
        channel = await session.scalar(select(Channel).where(Channel.external_id == "cork-chat"))
        assert channel is not None and channel.locale == "es"
    assert await bot("/lang me tr") == "Bundan sonra sizinle Türkçe konuşacağım."
    assert await bot("/lang chat") == (
        "Bu sohbette İspanyolca paylaşım yapıyorum.\n"
        "/lang [dil] [me|chat] gönderin; seçenekler: en, es, it, fr, tr, auto."
    )
    assert (await bot("/lang me")).startswith("Sizinle Türkçe konuşuyorum.")
    assert (await bot("/lang chat xx")).startswith("“xx” dilini konuşmuyorum.")


async def test_replies_follow_the_council_language_by_default(bot: Bot) -> None:
    english = await bot("nadia: /councils")
    await bot("/link malaga")  # Málaga's language is Spanish
    spanish = bot.app.catalogs.translator("es")
    assert english.startswith("The councils")
    assert (await bot("nadia: /councils")).startswith(str(spanish("<b>The councils</b>"))[3:-4])


async def test_subscribe_and_unsubscribe(bot: Bot) -> None:
    assert await bot("sam: /subscribe events") == (
        f"Subscribed: I will send you events for {CORK} by direct message. "
        "/unsubscribe events stops it."
    )
    assert (await bot("sam: /subscribe events")).startswith("You were already subscribed")
    assert (await bot("sam: /subscribe magazine all")).startswith(
        "Subscribed: I will send you magazine issues by direct message"  # no council
    )
    assert (await bot("sam: /subscribe polls paris")).startswith("Subscribed")
    whoami = await bot("sam: /whoami")
    assert "events (cork)" in whoami
    assert "magazine issues, polls (paris)" in whoami
    assert "polls (paris)" in whoami
    assert (await bot("sam: /subscribe weather")).startswith("“weather” is not one of:")
    assert await bot("sam: /unsubscribe polls paris") == (
        "Unsubscribed: no more polls for French council (Essonne)."
    )
    assert await bot("sam: /unsubscribe events") == (
        "Unsubscribed: no more events by direct message."
    )
    assert await bot("sam: /unsubscribe events") == "You were not subscribed to events."
    assert await count(bot, Subscription) == 1


async def test_unsubscribing_one_council_says_that_all_councils_still_deliver_it(
    bot: Bot,
) -> None:
    await bot("sam: /subscribe announcements all")
    await bot("sam: /subscribe announcements cork")
    still = "/unsubscribe announcements stops all of them."
    assert await bot("sam: /unsubscribe announcements cork") == (
        f"Unsubscribed from announcements for {CORK}, but you are still subscribed to "
        f"announcements of all councils, which includes {CORK}. {still}"
    )
    assert await bot("sam: /unsubscribe announcements cork") == (
        f"You get announcements for {CORK} through your subscription to all councils. {still}"
    )
    assert await count(bot, Subscription, Subscription.council_id.is_(None)) == 1
    assert await bot("sam: /unsubscribe announcements") == (
        "Unsubscribed: no more announcements by direct message."
    )
    assert await count(bot, Subscription) == 0


@pytest.mark.parametrize("chat", ["dm", "unlinked-chat"])
async def test_subscribing_without_any_council_asks_which(bot: Bot, chat: str) -> None:
    reply = await bot.reply(f"sam@{chat}: /subscribe polls")
    assert reply.text == (
        "Which council's polls do you want? Choose one below, or all of them, "
        "or send /subscribe announcements|events|desks|polls|magazine|digest [council]."
    )
    commands = [button.command for button in reply.button_list]
    assert commands[0] == "/subscribe polls alcala"
    assert commands[-1] == "/subscribe polls all"
    assert len(commands) == 7
    assert await count(bot, Subscription) == 0
    assert (await bot(f"sam@{chat}: 7")).startswith(
        "Subscribed: I will send you polls for all councils by direct message."
    )
    assert await count(bot, Subscription, Subscription.council_id.is_(None)) == 1


async def test_paused_subscriptions_are_not_shown_and_subscribing_resumes_them(bot: Bot) -> None:
    await bot("sam: /subscribe events")
    sam = messages.Identity(platform=messages.Platform.CONSOLE, user_id="sam")
    async with bot.app.sessionmaker() as session, session.begin():
        assert await members.set_reachable(session, sam, reachable=False) == 1
    assert "Subscriptions: none (/subscribe)" in await bot("sam: /whoami")
    assert (await bot("sam: /subscribe events")).startswith("Subscribed")
    assert "events (cork)" in await bot("sam: /whoami")
    async with bot.app.sessionmaker() as session, session.begin():
        assert await members.set_reachable(session, sam, reachable=True) == 0  # nothing paused


async def test_coordinator_add_remove_is_for_admins(bot: Bot) -> None:
    await bot("bob: /start")
    assert await bot("bob: /coordinator add bob cork") == "Only admins can use /coordinator."
    assert await bot("/coordinator add ghost cork") == (
        "Nobody is known as ghost. They need to send me a message (/start) first."
    )
    assert "now a coordinator" in await bot("/coordinator add @bob cork")
    assert "already a coordinator" in await bot("/coordinator add console:bob cork")
    assert await count(bot, Role) == 1
    assert "no longer a coordinator" in await bot("/coordinator remove bob cork")
    assert "is not a coordinator" in await bot("/coordinator remove bob cork")
    assert (await bot("/coordinator promote bob cork")).startswith(
        "“promote” is not one of: add, remove."
    )
    assert await count(bot, Role) == 0


async def test_whoami_shows_identities_and_roles(bot: Bot) -> None:
    text = await bot("/whoami")
    assert text.startswith("admin (member #")
    assert "• Console: @admin (admin)" in text
    assert "Roles: admin (from the settings)" in text
    assert "Subscriptions: none (/subscribe)" in text


async def test_whoami_shows_each_member_only_their_own_roles_and_subscriptions(
    bot: Bot,
) -> None:
    await bot("bob: /start")
    await bot("/coordinator add bob paris")
    await bot("/coordinator add bob cork")
    await bot("bob: /subscribe polls paris")
    await bot("bob: /subscribe events")
    await bot("bob: /subscribe magazine all")
    bob = (
        "bob (member #{id})\n"
        "• Console: @bob (bob)\n"
        "Language: English\n"
        "Home council: none yet (/start)\n"
        f"Roles: coordinator of French council (Essonne), coordinator of {CORK}\n"
        "Subscriptions: events (cork), magazine issues, polls (paris)"
    )
    first = await bot("bob: /whoami")
    bob_id = first.split("#", 1)[1].split(")", 1)[0]
    assert first == bob.format(id=bob_id)

    carol = await bot("carol@dm: /whoami")
    assert carol.startswith("carol (member #")
    assert carol.endswith(
        "• Console: @carol (carol)\nLanguage: English\nHome council: none yet (/start)\n"
        "Roles: member\nSubscriptions: none (/subscribe)"
    )
    assert await bot("bob: /whoami") == bob.format(id=bob_id)


async def test_link_account_merges_members(bot: Bot) -> None:
    await bot("alice@dm: /lang en")
    await bot("alice@dm: /subscribe events cork")
    await bot("alice@dm: /subscribe magazine all")
    code_reply = await bot.reply("alice@dm: /linkaccount")
    assert code_reply.private
    code = code_in(code_reply.text)
    # alice2 stands for Alice's account on another platform.
    await bot("alice2@dm: /subscribe magazine all")
    await bot("/coordinator add alice2 bologna")
    members_before = await count(bot, Member)

    done = await bot(f"alice2@dm: /linkaccount {code.lower()}")
    assert done == (
        "Done: your accounts are linked (Console). Your roles, subscriptions and bookings "
        "are now shared."
    )
    assert await count(bot, Member) == members_before - 1
    whoami = await bot("alice2@dm: /whoami")
    assert "@alice (alice)\n" in whoami and "@alice2 (alice2)" in whoami
    assert "coordinator of Emilia-Romagna council" in whoami
    assert whoami.count("magazine issues") == 1  # the duplicate collapsed
    assert "events (cork)" in whoami
    assert await count(bot, Identity, Identity.user_id.in_(["alice", "alice2"])) == 2


async def test_link_codes_are_single_use_and_expire(bot: Bot, clock: Clock) -> None:
    code = code_in((await bot.reply("ann@dm: /linkaccount")).text)
    assert (await bot(f"ann@dm: /linkaccount {code}")).startswith(
        "That code belongs to this account."
    )
    assert (await bot(f"ann2@dm: /linkaccount {code}")).startswith("Done")
    assert await bot(f"ann3@dm: /linkaccount {code}") == (
        "That code was already used. Ask for a new one with /linkaccount."
    )
    late = code_in((await bot.reply("ann@dm: /linkaccount")).text)
    clock.advance(minutes=10, seconds=1)
    assert await bot(f"ann4@dm: /linkaccount {late}") == (
        "That code has expired. Ask for a new one with /linkaccount."
    )
    assert await bot("ann4@dm: /linkaccount ZZZZ-ZZZZ") == (
        "I don't know that code. Check it, or ask for a new one with /linkaccount."
    )
    assert await bot("ann4@dm: /linkaccount 12") == (
        "A link code has 8 letters and digits.\nUsage: /linkaccount [code]"
    )


async def test_a_new_code_replaces_the_unused_one(bot: Bot) -> None:
    first = code_in((await bot.reply("ann@dm: /linkaccount")).text)
    await bot("ann@dm: /linkaccount")
    assert (await bot(f"ann2@dm: /linkaccount {first}")).startswith("I don't know that code.")
    assert await count(bot, LinkCode) == 1


async def test_link_code_is_only_given_in_private(bot: Bot) -> None:
    text = await bot("ann: /linkaccount")
    assert text.startswith("For your safety, send /linkaccount to me in a private chat")
    assert await count(bot, LinkCode) == 0


async def test_a_crashing_handler_apologises_and_commits_nothing(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from councilbot.services import councils

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(councils, "set_channel_language", broken)
    await bot("/subscribe events")
    text = await bot("/lang tr chat")
    assert text.startswith("Sorry, something went wrong on my side and nothing was changed.")
    assert len(text.rsplit(" ", 1)[1].rstrip(".")) == 8  # the incident code
    assert await count(bot, Subscription) == 1


async def test_failed_first_command_still_registers_the_speaker(bot: Bot) -> None:
    assert "Only coordinators" in await bot("dave: /link paris")
    assert "now a coordinator" in await bot("/coordinator add dave paris")


async def test_bad_arguments_change_nothing(bot: Bot) -> None:
    assert await bot("/subscribe") == (
        "Please give the topic.\nUsage: /subscribe announcements|events|desks|polls|magazine|digest [council]"
    )
    assert (await bot("/subscribe events cork extra")).startswith("I didn't expect extra.")
    assert (await bot("/subscribe events --at noon")).startswith("I don't know the option --at.")
    assert await count(bot, Subscription) == 0
    # An unclosed quote is refused by every command: what it swallowed is a guess.
    assert await bot('/subscribe events "cork') == (
        'The quote that opens at "cork has no closing ": add it, or leave the quotes out.\n'
        "Usage: /subscribe announcements|events|desks|polls|magazine|digest [council]"
    )
    assert await count(bot, Subscription) == 0
    assert (await bot('/subscribe events "cork"')).startswith("Subscribed")


async def test_digits_that_int_cannot_read_are_not_numbers(bot: Bot) -> None:
    # Not a button number: plain text, which a private chat answers with the hint.
    assert await bot("ann@dm: ²") == "I only understand commands. Send /help to see them."
    assert "Nobody is known as #²" in await bot("/coordinator add #² cork")
    assert "“²”" in await bot("/deliveries ²")


async def test_lang_chat_and_lang_me_show_the_language_and_the_choices(bot: Bot) -> None:
    how = "Send /lang [language] [me|chat], with one of: en, es, it, fr, tr, auto."
    await bot("/lang en")  # the admin's own choice: the chat's language will not change it
    assert await bot("/lang chat") == (
        f"I post in English in this chat, the language of {CORK}.\n{how}"
    )
    await bot("/lang it chat")
    assert await bot("/lang CHAT") == f"I post in Italian in this chat.\n{how}"
    reply = await bot.reply("/lang me")
    assert reply.text == (
        "I speak to you in English. Choose another one, or send /lang auto to follow your "
        f"app's language.\n{how}"
    )
    assert [b.command for b in reply.button_list] == [
        "/lang en", "/lang es", "/lang it", "/lang fr", "/lang tr",
    ]  # fmt: skip
    assert await bot("alice@dm: /lang chat") == "This chat is not linked to any council."
    assert await bot("/lang xx") == (
        "I don't speak “xx”. Choose one of: en, es, it, fr, tr, auto.\n"
        "Usage: /lang [language] [me|chat]"
    )


async def test_linking_two_accounts_reminded_of_the_same_poll_keeps_one_reminder(
    bot: Bot,
) -> None:
    from councilbot.db.models import PollReminder

    for name in ("alice", "alice2"):
        await bot(f"{name}@dm: /start cork")
    await bot('/poll "Which day?" "Mon" "Tue" --to cork --yes')
    assert await bot("/remindpoll 1") == "I reminded 2 members who had not voted in poll #1."
    code = code_in((await bot.reply("alice@dm: /linkaccount")).text)
    assert (await bot(f"alice2@dm: /linkaccount {code}")).startswith("Done")
    assert await count(bot, PollReminder) == 1  # one member, reminded once
    assert await bot("/remindpoll 1") == (
        "Nobody to remind in poll #1: everyone asked has voted or was reminded already."
    )

"""General commands: start, help, councils, linking chats and accounts, language, subscriptions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from markupsafe import Markup
from pydantic import Field, model_validator

from councilbot.commands import me
from councilbot.core.errors import Conflict, InvalidInput, NotFound
from councilbot.core.features import TOPICS, Feature, MemberData
from councilbot.core.grammar import ArgModel, Declared, NoArgs
from councilbot.core.i18n import LANGUAGE_NAMES, LANGUAGES, N_, language_name, normalise_language
from councilbot.core.messages import Button, Platform, Reply
from councilbot.core.router import CommandSpec, Context, Role, SubCommand
from councilbot.db.models import Council, Member, RoleName
from councilbot.services import access, councils, home, members

GENERAL = N_("General")
ADMIN = N_("Admin")


def _council_buttons(all_councils: list[Council], command: str) -> tuple[tuple[Button, ...], ...]:
    buttons = [
        Button(label=c.name.split(" (")[0], command=f"/{command} {c.slug}") for c in all_councils
    ]
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


class StartArgs(ArgModel):
    council: Annotated[str | None, Field(title=N_("council"))] = None


async def start(ctx: Context, args: StartArgs) -> Reply:
    """Greet the member; in a private chat, let them choose a home council."""
    t = ctx.t
    if args.council:
        council = await councils.get_council(ctx.session, args.council)
        await members.set_home_council(ctx.session, ctx.member, council)
        await home.home_changed(ctx.session, ctx.member.id, ctx.now)
        # Someone who chose no language is answered in their home council's in private
        # chats (unless their app says): tell them when that changes, in the new one.
        speaks = ctx.lang
        if ctx.channel is None and ctx.member.locale is None:
            speaks = normalise_language(ctx.command.sender.language_code) or council.language
        t = ctx.router.catalogs.translator(speaks)
        text = t(
            "Your home council is now <b>{council}</b>. Times in private chats are shown in {zone}. "
            "Send /help to see what you can do.",
            council=council.name,
            zone=council.timezone,
        )
        if speaks != ctx.lang:
            text += Markup("\n") + t(
                "From now on I speak to you in {language}, your council's language; "
                "/lang {code} me switches back to {previous}.",
                language=language_name(speaks, speaks),
                code=ctx.lang,
                previous=language_name(ctx.lang, speaks),
            )
        return Reply(text=text)
    if (
        ctx.command.chat.is_private
        and ctx.command.chat.platform is Platform.TELEGRAM
        and not ctx.newcomer
        and ctx.council is not None
    ):
        # A known member opening the bot again: their home is what they came for.
        return await me.home_reply(ctx)
    text = t(
        "Hello {name}! I am CouncilBot, the assistant of the Cluster Growth Councils: "
        "events, hot desks, polls, announcements and the EMPOWER magazine.",
        name=ctx.member.display_name,
    )
    if ctx.channel is not None:
        text += "\n" + t("This chat belongs to <b>{council}</b>.", council=ctx.channel.council.name)
        return Reply(text=text + "\n" + t("Send /help to see what you can do."))
    if ctx.command.chat.is_private or ctx.council is None:
        all_councils = await councils.require_councils(ctx.session)
        if ctx.council is not None:
            text += "\n" + t("Your home council is <b>{council}</b>.", council=ctx.council.name)
        text += "\n" + t(
            "Which council is your home council? Choose one below or send {usage}.",
            usage=ctx.usage("start"),
        )
        return Reply(text=text, buttons=_council_buttons(all_councils, "start"))
    return Reply(text=text + "\n" + t("Send /help to see what you can do."))


class HelpArgs(ArgModel):
    command: Annotated[str | None, Field(title=N_("command"))] = None
    # `/help announce cancel` explains that form of /announce only.
    form: Annotated[str | None, Field(title=N_("form"))] = None


async def help_(ctx: Context, args: HelpArgs) -> Reply:
    """List the commands, or explain one (and each of its forms)."""
    t = ctx.t
    router = ctx.router
    if args.command:
        spec = router.lookup(args.command)
        if spec is None:
            raise router.unknown(args.command)
        sub = spec.subcommand(args.form) if args.form else None
        if args.form and sub is None:
            if not spec.subcommands:
                raise InvalidInput(
                    N_("/{command} has only one form: {usage}"),
                    command=spec.name,
                    usage=spec.usage(t, router.declared),
                ).about("form")
            raise InvalidInput(
                N_("/{command} has no form “{value}”. Its forms are: {choices}."),
                command=spec.name,
                value=args.form,
                choices=", ".join(each.name for each in spec.subcommands),
            ).about("form")
        if sub is not None:
            usage_line = spec.sub_usage(sub, t, router.declared)
            lines = [Markup("<b>{}</b>").format(usage_line), t(sub.summary)]
            if sub.details:
                lines.append(t(sub.details))
            role = spec.role_of(sub)
        else:
            lines = _explain(ctx, spec)
            role = spec.least_role
        if role is Role.COORDINATOR:
            lines.append(t("For coordinators and admins."))
        elif role is Role.ADMIN:
            lines.append(t("For admins."))
        return Reply(text="\n".join(lines))
    # The list shows what this person may run; /help <command> explains any command.
    role = await router.role_of(ctx)
    areas: dict[str, list[CommandSpec]] = {}
    for spec in router.visible_specs():
        if spec.least_role <= role:
            areas.setdefault(spec.area, []).append(spec)
    lines = [t("Here is what I can do. Send {usage} for details.", usage=ctx.usage("help"))]
    for area, specs in areas.items():
        lines.append("")
        lines.append(Markup("<b>{}</b>").format(t(area)))
        for spec in specs:
            lines.append(Markup("/{} — {}").format(spec.name, t(spec.summary)))
    return Reply(text="\n".join(lines))


def _explain(ctx: Context, spec: CommandSpec) -> list[str]:
    """Explain a command: its usage and summary, then each of its forms on a line of its own."""
    t = ctx.t
    if not spec.subcommands:
        lines = [Markup("<b>{}</b>").format(spec.usage(t, ctx.router.declared)), t(spec.summary)]
    else:
        lines = [t(spec.summary)]
        if spec.handler is not None:
            lines.append(Markup("• <b>{}</b>").format(spec.own_usage(t, ctx.router.declared)))
        for sub in spec.subcommands:
            lines.append(
                Markup("• <b>{}</b> — {}").format(
                    spec.sub_usage(sub, t, ctx.router.declared), t(sub.summary)
                )
            )
    if spec.details:
        lines.append(t(spec.details))
    return lines


async def list_councils(ctx: Context, _args: NoArgs) -> Reply:
    """Show the six councils and which one this chat belongs to."""
    t = ctx.t
    listed = await ctx.router.directory.councils(ctx.session)  # cached: no query, mostly
    if not listed:
        raise NotFound(councils.NO_COUNCILS)
    lines = [t("<b>The councils</b>")]
    for council in listed:
        marker = " ◀" if ctx.council is not None and ctx.council.id == council.id else ""
        lines.append(
            t(
                "<b>{name}</b> ({slug}) — {city}{marker}\n    {focus} · {zone} · {language}",
                name=council.name,
                slug=council.slug,
                city=council.city,
                marker=marker,
                focus=council.focus,
                zone=council.timezone,
                language=language_name(council.language, ctx.lang),
            )
        )
    if ctx.channel is not None:
        lines.append(t("This chat is linked to {council}.", council=ctx.channel.council.name))
    elif not ctx.command.chat.is_private:
        lines.append(
            t(
                "This chat is not linked yet: a coordinator can send {usage}.",
                usage=ctx.usage("link"),
            )
        )
    return Reply(text="\n".join(lines))


class LinkArgs(ArgModel):
    council: Annotated[str, Field(title=N_("council"))]
    code: Annotated[str | None, Field(title=N_("code"))] = None


async def link(ctx: Context, args: LinkArgs) -> Reply:
    """Link this group or channel to a council."""
    if ctx.command.chat.is_private:
        if args.code is not None:
            return await _link_with_code(ctx, args.council, args.code)
        raise InvalidInput(
            N_(
                "Only groups and channels can be linked. In a private chat, choose your home council with /start."
            )
        )
    council = await councils.get_council(ctx.session, args.council)
    speaks_as_chat = ctx.command.sender.user_id == ctx.command.chat.chat_id
    if speaks_as_chat and not await access.can_coordinate(ctx.session, ctx.actor, council):
        # A Telegram channel (or an anonymous admin) posts as the chat: nobody to check.
        code = await councils.create_chat_link_code(
            ctx.session, ctx.command.chat, council, now=ctx.now
        )
        return ctx.reply(
            "This chat posts as itself, so I cannot tell who asked. To link it to {council}, a "
            "coordinator of {council} sends me <code>/link {slug} {code}</code> in a private chat "
            "within 10 minutes.",
            council=council.name,
            slug=council.slug,
            code=members.format_code(code.code),
        )
    await access.require_coordinator(ctx.session, ctx.actor, council)
    if ctx.channel is not None and ctx.channel.council_id != council.id:
        await access.require_coordinator(ctx.session, ctx.actor, ctx.channel.council)
    result = await councils.link_channel(
        ctx.session, ctx.command.chat, ctx.channel, council, by=ctx.member, now=ctx.now
    )
    if result.previous is not None:
        return ctx.reply(
            "This chat moved from {previous} to <b>{council}</b>. Announcements and events of {council} will appear here.",
            previous=result.previous.name,
            council=council.name,
        )
    return ctx.reply(
        "This chat is now linked to <b>{council}</b>. Announcements and events of {council} will appear here. /unlink undoes it.",
        council=council.name,
    )


async def _link_with_code(ctx: Context, slug: str, text: str) -> Reply:
    """Link the chat a code was given in, for a coordinator writing from a private chat."""
    code, chat = await councils.redeem_chat_link_code(ctx.session, text, now=ctx.now)
    council = await councils.get_council(ctx.session, slug)
    if council.id != code.council_id:
        raise InvalidInput(N_("That code is for another council. Send /link in the chat again."))
    await access.require_coordinator(ctx.session, ctx.actor, council)
    existing = await members.find_channel(ctx.session, chat)
    if existing is not None and existing.council_id != council.id:
        await access.require_coordinator(ctx.session, ctx.actor, existing.council)
    await councils.link_channel(ctx.session, chat, existing, council, by=ctx.member, now=ctx.now)
    code.used_at = ctx.now
    return ctx.reply(
        "<b>{chat}</b> is now linked to <b>{council}</b>. Announcements and events of {council} will appear there.",
        chat=code.title or code.chat_id,
        council=council.name,
    )


async def unlink(ctx: Context, _args: NoArgs) -> Reply:
    """Remove this chat's link to its council."""
    if ctx.channel is None:
        raise Conflict(N_("This chat is not linked to any council."))
    await access.require_coordinator(ctx.session, ctx.actor, ctx.channel.council)
    council = await councils.unlink_channel(ctx.session, ctx.channel)
    return ctx.reply(
        "This chat is no longer linked to {council}. Send /link {slug} to link it again.",
        council=council.name,
        slug=council.slug,
    )


class LangArgs(ArgModel):
    language: Annotated[str | None, Field(title=N_("language"))] = None
    scope: Annotated[Literal["me", "chat"] | None, Field(title=N_("scope"))] = None

    @model_validator(mode="before")
    @classmethod
    def _scope_first(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Read `/lang chat tr` as `/lang tr chat`: people name the scope first as often."""
        language, scope = values.get("language"), values.get("scope")
        scopes = ("me", "chat")
        if str(language).lower() in scopes and scope is not None and scope not in scopes:
            return {**values, "language": scope, "scope": str(language).lower()}
        return values


async def lang(ctx: Context, args: LangArgs) -> Reply:
    """Choose the language I use with you (or, for coordinators, in this chat)."""
    choices = ", ".join((*LANGUAGES, "auto"))
    code = (args.language or "me").lower()
    if code in ("me", "chat") and args.scope is None:
        # `/lang chat` and `/lang me` name a scope without a language: show what it speaks and
        # how to change it. A bare `/lang` shows the choices as buttons.
        how = ctx.t(
            "Send {usage}, with one of: {languages}.", usage=ctx.usage("lang"), languages=choices
        )
        if code == "chat":
            return Reply(text=_chat_language(ctx) + "\n" + how)
        buttons = tuple(
            tuple(Button(label=LANGUAGE_NAMES[each], command=f"/lang {each}") for each in row)
            for row in (LANGUAGES[:3], LANGUAGES[3:])
        )
        mine = ctx.t(
            "I speak to you in {language}. Choose another one, or send /lang auto to follow your app's language.",
            language=language_name(ctx.lang, ctx.lang),
        )
        return Reply(text=mine if args.language is None else mine + "\n" + how, buttons=buttons)
    if code not in (*LANGUAGES, "auto"):
        raise InvalidInput(
            N_("I don't speak “{language}”. Choose one of: {languages}."),
            language=args.language,
            languages=choices,
        )
    chosen = None if code == "auto" else code
    if args.scope == "chat":
        if ctx.channel is None:
            if ctx.command.chat.is_private:
                raise Conflict(
                    N_(
                        "/lang chat sets the language of a group's posts; here, /lang {language} "
                        "chooses the language I speak to you."
                    ),
                    language=code,
                )
            raise Conflict(N_("This chat is not linked to any council."))
        await access.require_coordinator(ctx.session, ctx.actor, ctx.channel.council)
        await councils.set_channel_language(ctx.session, ctx.channel, chosen)
        posting = ctx.channel.language  # just set: the choice, or the council's
        t = ctx.router.catalogs.translator(posting)  # the group reads its new language at once
        return Reply(
            text=t(
                "From now on I post in {language} in this chat.",
                language=language_name(posting, posting),
            )
        )
    await members.set_language(ctx.session, ctx.member, chosen)
    await home.home_changed(ctx.session, ctx.member.id, ctx.now)
    t = ctx.router.catalogs.translator(chosen or ctx.fallback_language)
    if chosen is None:
        return Reply(text=t("I will follow your app's language from now on."))
    return Reply(
        text=t("From now on I speak to you in {language}.", language=language_name(chosen, t.lang))
    )


def _chat_language(ctx: Context) -> Markup:
    """Say which language this chat's posts are in, and whether the chat or its council chose it."""
    if ctx.channel is None:
        raise Conflict(N_("This chat is not linked to any council."))
    language = language_name(ctx.channel.language, ctx.lang)
    if ctx.channel.locale is None:
        return ctx.t(
            "I post in {language} in this chat, the language of {council}.",
            language=language,
            council=ctx.channel.council.name,
        )
    return ctx.t("I post in {language} in this chat.", language=language)


async def whoami(ctx: Context, _args: NoArgs) -> Reply:
    """Show who I think you are: accounts, language, home council, roles, subscriptions."""
    t = ctx.t
    session = ctx.session
    lines = [t("<b>{name}</b> (member #{id})", name=ctx.member.display_name, id=ctx.member.id)]
    found = await ctx.router.directory.profile(session, ctx.member.id)  # cached, mostly
    for platform, handle in found.identities:
        lines.append(
            t("• {platform}: {handle}", platform=platform.value.capitalize(), handle=handle)
        )
    lines.append(t("Language: {language}", language=language_name(ctx.lang, ctx.lang)))
    home = (
        await session.get(Council, ctx.member.home_council_id)
        if ctx.member.home_council_id
        else None
    )
    lines.append(
        t("Home council: {council}", council=home.name)
        if home
        else t("Home council: none yet (/start)")
    )
    role_names = [
        t("admin")
        if role is RoleName.ADMIN
        else t("coordinator of {council}", council=council or "?")
        for role, council in found.roles
    ]
    if ctx.actor.bootstrap_admin and RoleName.ADMIN not in {role for role, _ in found.roles}:
        role_names.insert(0, t("admin (from the settings)"))
    lines.append(t("Roles: {roles}", roles=", ".join(role_names) if role_names else t("member")))
    if found.subscriptions:
        shown = ", ".join(
            dict.fromkeys(  # a topic without councils once, whatever rows it kept
                _topic_label(ctx, topic)
                if not _per_council(ctx, topic)
                else t(
                    "{topic} ({council})",
                    topic=_topic_label(ctx, topic),
                    council=council or t("all councils"),
                )
                for topic, council in found.subscriptions
            )
        )
        lines.append(t("Subscriptions: {subscriptions}", subscriptions=shown))
    else:
        lines.append(t("Subscriptions: none (/subscribe)"))
    return Reply(text="\n".join(lines))


def _per_council(ctx: Context, name: str) -> bool:
    """Tell whether one subscribes to a topic council by council (not so the magazine)."""
    topic = ctx.router.topics.get(name)
    return topic is None or topic.per_council


def _topic_label(ctx: Context, name: str) -> str:
    """Name a topic in the reader's language, as its feature declares it."""
    topic = ctx.router.topics.get(name)
    # A subscription kept from a feature the bot no longer runs: shown by its name.
    return ctx.t(topic.label) if topic is not None else name


class LinkAccountArgs(ArgModel):
    code: Annotated[str | None, Field(title=N_("code"), max_length=32)] = None


async def linkaccount(ctx: Context, args: LinkAccountArgs) -> Reply:
    """Link your accounts on two platforms into one member."""
    if args.code is None:
        if not ctx.command.chat.is_private:
            raise Conflict(
                N_(
                    "For your safety, send /linkaccount to me in a private chat: anyone who sees the code could use it."
                )
            )
        link_code = await members.create_link_code(ctx.session, ctx.member, now=ctx.now)
        return Reply(
            text=ctx.t(
                "Your link code is <code>{code}</code>. Within 10 minutes, send <code>/linkaccount {code}</code> "
                "to me from your other account (Telegram, Slack or the console). It works once.",
                code=members.format_code(link_code.code),
            ),
            private=True,
        )
    keep = await members.redeem_link_code(ctx.session, ctx.member, args.code, now=ctx.now)
    await home.home_changed(ctx.session, keep.id, ctx.now)
    platforms = sorted(
        {i.platform.value.capitalize() for i in await members.identities_of(ctx.session, keep.id)}
    )
    return ctx.reply(
        "Done: your accounts are linked ({platforms}). Your roles, subscriptions and bookings are now shared.",
        platforms=", ".join(platforms),
    )


class SubscribeArgs(ArgModel):
    # One of the topics the features declare (core.features.Topic).
    topic: Annotated[str, Field(title=N_("topic")), Declared(TOPICS)]
    council: Annotated[str | None, Field(title=N_("council"))] = None


async def _subscription_council(ctx: Context, text: str) -> Council | None:
    """Read the council of a subscription: a slug, or `all` (None)."""
    if text.lower() == "all":
        return None
    return await councils.get_council(ctx.session, text)


def _council_label(ctx: Context, council: Council | None) -> str:
    return council.name if council else ctx.t("all councils")


async def subscribe(ctx: Context, args: SubscribeArgs) -> Reply:
    """Get a topic by direct message, for one council or all."""
    topic = args.topic
    label = _topic_label(ctx, topic)
    if not _per_council(ctx, topic):
        # The same for every council: one subscription, whatever council is named.
        if await members.subscribed(ctx.session, ctx.member, topic):
            return ctx.reply("You were already subscribed to {topic}.", topic=label)
        await members.subscribe(ctx.session, ctx.member, topic, None, now=ctx.now)
        return ctx.reply(
            "Subscribed: I will send you {topic} by direct message. /unsubscribe {command} "
            "stops it.",
            topic=label,
            command=topic,
        )
    if args.council is not None:
        council = await _subscription_council(ctx, args.council)
    elif ctx.council is not None:
        council = ctx.council
    else:
        # No chat council and no home council: "all" is a choice to make, not a default.
        buttons = _council_buttons(
            await councils.require_councils(ctx.session), f"subscribe {topic}"
        )
        every = Button(label=ctx.t("All councils"), command=f"/subscribe {topic} all")
        return Reply(
            text=ctx.t(
                "Which council's {topic} do you want? Choose one below, or all of them, "
                "or send {usage}.",
                topic=label,
                usage=ctx.usage("subscribe"),
            ),
            buttons=(*buttons, (every,)),
        )
    added = await members.subscribe(ctx.session, ctx.member, topic, council, now=ctx.now)
    declared = ctx.router.topics.get(topic)
    if declared is not None and declared.subscribed is not None:
        await declared.subscribed(ctx.session, ctx.now)
    await home.home_changed(ctx.session, ctx.member.id, ctx.now)
    values = {"topic": label, "council": _council_label(ctx, council)}
    if not added:
        return ctx.reply("You were already subscribed to {topic} for {council}.", **values)
    return ctx.reply(
        "Subscribed: I will send you {topic} for {council} by direct message. /unsubscribe {command} stops it.",
        command=topic,
        **values,
    )


async def unsubscribe(ctx: Context, args: SubscribeArgs) -> Reply:
    """Stop getting a topic by direct message."""
    topic = args.topic
    council = (
        None
        if args.council is None or not _per_council(ctx, topic)
        else await _subscription_council(ctx, args.council)
    )
    removed = await members.unsubscribe(ctx.session, ctx.member, topic, council)
    await home.home_changed(ctx.session, ctx.member.id, ctx.now)
    values = {"topic": _topic_label(ctx, topic), "command": topic}
    if council is not None and await members.subscribed_to_all(ctx.session, ctx.member, topic):
        # Saying "no more" here would be wrong: the subscription to all councils still sends them.
        values["council"] = council.name
        if removed:
            return ctx.reply(
                "Unsubscribed from {topic} for {council}, but you are still subscribed to "
                "{topic} of all councils, which includes {council}. "
                "/unsubscribe {command} stops all of them.",
                **values,
            )
        return ctx.reply(
            "You get {topic} for {council} through your subscription to all councils. "
            "/unsubscribe {command} stops all of them.",
            **values,
        )
    if not removed:
        return ctx.reply("You were not subscribed to {topic}.", **values)
    if council is None:
        return ctx.reply("Unsubscribed: no more {topic} by direct message.", **values)
    return ctx.reply("Unsubscribed: no more {topic} for {council}.", council=council.name, **values)


class CoordinatorArgs(ArgModel):
    user: Annotated[str, Field(title=N_("user"))]
    council: Annotated[str, Field(title=N_("council"))]


async def _coordinator_of(ctx: Context, args: CoordinatorArgs) -> tuple[Member, Council]:
    council = await councils.get_council(ctx.session, args.council)
    member = await members.find_member(ctx.session, args.user, prefer=ctx.command.sender.platform)
    return member, council


async def coordinator_add(ctx: Context, args: CoordinatorArgs) -> Reply:
    """Make someone a coordinator of a council."""
    member, council = await _coordinator_of(ctx, args)
    values = {"user": member.display_name, "council": council.name}
    added = await members.grant_role(
        ctx.session, member, RoleName.COORDINATOR, council, granted_by=ctx.member, now=ctx.now
    )
    if not added:
        return ctx.reply("{user} is already a coordinator of {council}.", **values)
    return ctx.reply("{user} is now a coordinator of {council}.", **values)


async def coordinator_remove(ctx: Context, args: CoordinatorArgs) -> Reply:
    """Stop someone being a coordinator of a council."""
    member, council = await _coordinator_of(ctx, args)
    values = {"user": member.display_name, "council": council.name}
    removed = await members.revoke_role(ctx.session, member, RoleName.COORDINATOR, council)
    if not removed:
        return ctx.reply("{user} is not a coordinator of {council}.", **values)
    return ctx.reply("{user} is no longer a coordinator of {council}.", **values)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "start",
        start,
        N_("Say hello and choose your home council."),
        GENERAL,
        StartArgs,
        personal=True,
    ),
    CommandSpec(
        "help",
        help_,
        N_("List the commands, or explain one."),
        GENERAL,
        HelpArgs,
        personal=True,
        # The form is for commands that have several: /help announce cancel.
        usage_text="/help [{command}]",
    ),
    CommandSpec("councils", list_councils, N_("Show the councils."), GENERAL),
    CommandSpec(
        "link",
        link,
        N_("Link this group or channel to a council."),
        GENERAL,
        LinkArgs,
        details=N_(
            "A council may have many chats. A chat that posts as itself (a Telegram channel) gets a code to send from a private chat."
        ),
        audience=Role.COORDINATOR,
    ),
    CommandSpec(
        "unlink",
        unlink,
        N_("Remove this chat's link to its council."),
        GENERAL,
        audience=Role.COORDINATOR,
    ),
    CommandSpec(
        "lang",
        lang,
        N_("Choose the language I speak to you."),
        GENERAL,
        LangArgs,
        personal=True,
        details=N_(
            "Languages: en, es, it, fr, tr, or auto. Coordinators add “chat” to set the language of this chat's posts."
        ),
    ),
    CommandSpec(
        "whoami",
        whoami,
        N_("Show your accounts, language, roles and subscriptions."),
        GENERAL,
        personal=True,
    ),
    CommandSpec(
        "linkaccount",
        linkaccount,
        N_("Link your accounts on two platforms."),
        GENERAL,
        LinkAccountArgs,
        personal=True,
        details=N_(
            "Send /linkaccount in a private chat to get a code, then send /linkaccount and that code from your other account."
        ),
    ),
    CommandSpec(
        "subscribe",
        subscribe,
        N_("Get the news of a topic by direct message."),
        GENERAL,
        SubscribeArgs,
        personal=True,
        details=N_(
            "Without a council, this chat's council (or your home council) is used; “all” means every council."
        ),
    ),
    CommandSpec(
        "unsubscribe",
        unsubscribe,
        N_("Stop getting a topic by direct message."),
        GENERAL,
        SubscribeArgs,
        personal=True,
    ),
    CommandSpec(
        "coordinator",
        None,  # every use names its form: add or remove
        N_("Add or remove a coordinator of a council."),
        ADMIN,
        role=Role.ADMIN,
        details=N_("Name the person as @username, platform:user_id or #member."),
        subcommands=(
            SubCommand(
                "add",
                coordinator_add,
                N_("Make someone a coordinator of a council."),
                CoordinatorArgs,
            ),
            SubCommand(
                "remove",
                coordinator_remove,
                N_("Stop someone being a coordinator of a council."),
                CoordinatorArgs,
            ),
        ),
    ),
)

FEATURE = Feature(
    "general",
    commands=COMMANDS,
    # Subscriptions themselves are general; each topic belongs to the feature that posts it.
    # The member row, accounts, roles and subscriptions are general's: /mydata, /forgetme.
    member=MemberData(export=members.export_member, forget=members.forget_member),
)

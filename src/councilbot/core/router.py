"""The router: finds a command's handler, checks the role, parses arguments, runs it.

Each command runs in one transaction; a domain error or a crash rolls it back, so
bad input changes nothing. Every failure becomes a translated reply.
"""

from __future__ import annotations

import difflib
import logging
import secrets
import string
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.directory import Actor, Channel, Council, Directory, Member
from councilbot.core.errors import DomainError, Forbidden, InvalidInput, NotFound
from councilbot.core.grammar import (
    DECLARED,
    ArgModel,
    FormField,
    NoArgs,
    fields_of,
    normalise_name,
    parse_args,
    parse_fields,
    usage,
    with_declared,
)
from councilbot.core.i18n import N_, Catalogs, Translator, normalise_language
from councilbot.core.messages import Chat, Command, Identity, Reply
from councilbot.logsafe import correlation_id
from councilbot.settings import Settings

if TYPE_CHECKING:
    from councilbot.core.features import Choices, MemberHooks, Topic

log = logging.getLogger(__name__)
# The apology for a crash; adapters that catch their own crashes say the same.
FAILED = N_(
    "Sorry, something went wrong on my side and nothing was changed. "
    "If it happens again, tell a coordinator the code {incident}."
)

TOPICS = "topic"  # the kind of Declared choices the features' topics are
UTC_ZONE = ZoneInfo("UTC")
NOT_A_COMMAND = N_("I only understand commands. Send /help to see them.")
# A private chat is told NOT_A_COMMAND at most this often: once is helpful, every time nags.
HINT_INTERVAL = timedelta(minutes=10)
# What logs and metrics call a name that is no command: what people type is never logged,
# and one label for every typo keeps the metric's series bounded.
UNKNOWN_COMMAND = "(unknown)"


class Role(IntEnum):
    """Say who may run a command; higher includes lower."""

    MEMBER = 0
    COORDINATOR = 1
    ADMIN = 2


Handler = Callable[["Context", Any], Awaitable[Reply]]
Declared = Mapping[str, Sequence[str]]  # run-time choices by kind (core.grammar.Declared)


@dataclass(frozen=True, slots=True)
class SubCommand:
    """Declare one form of a command, `/name <word> ...`, with its own arguments and help.

    The router picks it by the first word after the command; the rest is parsed into its
    own argument model. What it leaves unset (None) it takes from its CommandSpec.
    """

    name: str
    handler: Handler
    summary: str
    args: type[ArgModel] = NoArgs
    role: Role | None = None
    details: str | None = None
    usage_text: str | None = None  # as CommandSpec's, e.g. "/announce edit <{id}> <{text}>"
    form: bool | None = None
    personal: bool | None = None  # `/announce list`: only its sender needs to see it


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """Declare one command: its handler, arguments, role and help.

    A command with several forms declares them as `subcommands`; its own handler (if any)
    answers when the first word names none of them (`/announce cork Hello`), and `None`
    means every use names a form (`/coordinator add|remove`).
    """

    name: str
    handler: Handler | None
    summary: str
    area: str
    args: type[ArgModel] = NoArgs
    role: Role = Role.MEMBER
    details: str | None = None
    aliases: tuple[str, ...] = ()
    # The usage line of the command's own form, when generating it from `args` would mislead:
    # `{name}` stands for a translated placeholder. Sub-commands add their own lines.
    usage_text: str | None = None
    # Given with no arguments, platforms with forms (Slack modals) ask for them in one.
    form: bool = False
    # The answer concerns the sender alone: platforms that can (Slack) show it to them only.
    personal: bool = False
    # Who /help lists the command for, when its handler checks the role itself (/link).
    audience: Role | None = None
    subcommands: tuple[SubCommand, ...] = ()

    def __post_init__(self) -> None:
        names = [sub.name for sub in self.subcommands]
        if len(set(names)) != len(names) or any(n != n.lower() or " " in n for n in names):
            raise ValueError(f"/{self.name}: sub-command names must be unique lowercase words")
        if self.handler is None and not self.subcommands:
            raise ValueError(f"/{self.name} has neither a handler nor sub-commands")

    @property
    def least_role(self) -> Role:
        """Return the least role that can use the command, as /help tells it."""
        if self.audience is not None:
            return self.audience
        roles = [self.role_of(sub) for sub in self.subcommands]
        if self.handler is not None:
            roles.append(self.role)
        return min(roles)

    def role_of(self, sub: SubCommand | None) -> Role:
        """Return the role a form of the command needs (None: the command's own form)."""
        return self.role if sub is None or sub.role is None else sub.role

    def subcommand(self, word: str) -> SubCommand | None:
        """Return the sub-command a word names, if any."""
        wanted = word.lower()
        return next((sub for sub in self.subcommands if sub.name == wanted), None)

    def split(self, text: str) -> tuple[SubCommand | None, str]:
        """Return the form the arguments' first word names, and the arguments after it."""
        if not self.subcommands:
            return None, text
        words = text.split(maxsplit=1)  # any white space: a phone may put a newline there
        sub = self.subcommand(words[0]) if words else None
        if sub is None:
            return None, text
        return sub, words[1] if len(words) > 1 else ""

    def is_personal(self, args: str) -> bool:
        """Tell whether the answer to these arguments concerns the sender alone (see personal)."""
        sub, _ = self.split(args)
        return self.personal if sub is None or sub.personal is None else sub.personal

    def has_form(self, sub: SubCommand | None) -> bool:
        """Tell whether platforms with forms ask for this form's arguments in one."""
        if sub is None:
            return self.form and self.handler is not None
        # A form with nothing to fill in (`/announce list`) just runs.
        return (self.form if sub.form is None else sub.form) and bool(fields_of(sub.args))

    def usage(self, t: Translator | None = None, declared: Declared | None = None) -> str:
        """Return the usage line (every form's, for a command with several), in the reader's language."""
        lines = [] if self.handler is None else [self.own_usage(t, declared)]
        lines += [self.sub_usage(sub, t, declared) for sub in self.subcommands]
        return " · ".join(lines)

    def own_usage(self, t: Translator | None = None, declared: Declared | None = None) -> str:
        """Return the usage line of the command's own form (the one that names no sub-command)."""
        if self.usage_text:
            return _format_usage(self.usage_text, t or str)
        return usage(self.name, self.args, t or str, declared)

    def sub_usage(
        self, sub: SubCommand, t: Translator | None = None, declared: Declared | None = None
    ) -> str:
        """Return the usage line of one form of the command."""
        translate = t or str
        if sub.usage_text:
            return _format_usage(sub.usage_text, translate)
        return usage(f"{self.name} {sub.name}", sub.args, translate, declared)


def _format_usage(text: str, translate: Callable[[str], str]) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return text.format(**{name: translate(name) for name in names})


@dataclass(slots=True)
class Context:
    """Everything a handler may use while it answers one command."""

    command: Command
    session: AsyncSession
    member: Member
    actor: Actor
    channel: Channel | None
    council: Council | None
    t: Translator
    now: datetime
    settings: Settings
    router: Router
    tz: ZoneInfo = field(default=UTC_ZONE)
    newcomer: bool = False
    fallback_language: str = "en"

    @property
    def lang(self) -> str:
        """Return the language of this reply."""
        return self.t.lang

    @property
    def today(self) -> date:
        """Return today's date in the council's time zone."""
        return self.now.astimezone(self.tz).date()

    def usage(self, command: str) -> str:
        """Return a command's usage line (`announce cancel`: that form's) in the reader's language."""
        name, _, word = command.partition(" ")
        spec = self.router.lookup(name)
        if spec is None:
            return f"/{command}"
        sub = spec.subcommand(word) if word else None
        if sub is not None:
            return spec.sub_usage(sub, self.t, self.router.declared)
        return spec.usage(self.t, self.router.declared)

    def reply(self, message: str, /, **values: Any) -> Reply:
        """Build a plain reply from a msgid."""
        return Reply(text=self.t(message, **values))


Outcome = Literal["ok", "refused", "invalid", "error", "unknown"]


@dataclass(frozen=True, slots=True)
class Handled:
    """One answered command, as observers of the router see it (no sender, no text)."""

    name: str | None  # the command's canonical name; None when there is no such command
    platform: str
    outcome: Outcome  # refused: a domain error; invalid: bad arguments; error: a crash
    seconds: float


@dataclass(frozen=True, slots=True)
class Form:
    """A command's arguments as a form to fill in, labelled in the sender's language."""

    spec: CommandSpec
    t: Translator
    fields: tuple[FormField, ...]
    # The zone its dates and times are read in (the council's), as typed ones would be.
    tz: ZoneInfo = UTC_ZONE
    # What a field may be picked from, by field name: (value, label) pairs (the councils).
    options: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    sub: SubCommand | None = None  # the form of the command it fills in

    @property
    def words(self) -> str:
        """Return what follows the command's name when the form is sent back: its form's word."""
        return self.sub.name if self.sub else ""

    @property
    def title(self) -> str:
        """Return the command as typed: `/announce cancel`."""
        return " ".join(filter(None, (f"/{self.spec.name}", self.words)))

    @property
    def summary(self) -> str:
        """Return the msgid that says what the form does."""
        return self.sub.summary if self.sub else self.spec.summary


class Router:
    """Route commands to handlers, one transaction per command."""

    def __init__(
        self,
        specs: Iterable[CommandSpec],
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        reader: async_sessionmaker[AsyncSession],
        directory: Directory,
        catalogs: Catalogs,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        topics: Iterable[Topic] = (),
        choices: Mapping[str, Choices] | None = None,
        members: MemberHooks = (),
    ) -> None:
        # The lists forms pick fields marked Picked(kind) from, by kind (core.features.Choices).
        self.choices: Mapping[str, Choices] = choices or {}
        # What each feature keeps about members and shows them (core.features.MemberData).
        self.members: MemberHooks = members
        # The subscription topics the features declare, by name, in their order.
        self.topics: dict[str, Topic] = {topic.name: topic for topic in topics}
        # Run-time choices of arguments marked Declared: /subscribe's topics.
        self.declared: dict[str, tuple[str, ...]] = {TOPICS: tuple(self.topics)}
        self.specs: dict[str, CommandSpec] = {}
        self._names: dict[str, CommandSpec] = {}
        for spec in specs:
            for name in (spec.name, *spec.aliases):
                if name in self._names:
                    raise ValueError(f"command /{name} is registered twice")
                self._names[name] = spec
            self.specs[spec.name] = spec
        self.sessionmaker = sessionmaker
        # Sessions that change nothing: they wait for no write lock (SQLite) and may not write.
        self.reader = reader
        self.directory = directory
        self.catalogs = catalogs
        self.settings = settings
        self.clock = clock
        # Called with the session's info after each committed command, e.g. to wake the
        # dispatcher when the command queued messages.
        self.after_commit: list[Callable[[dict[str, Any]], None]] = []
        # Called once per handle(), whatever its outcome (metrics count commands with it).
        self.on_handled: list[Callable[[Handled], None]] = []
        # When each private chat last got NOT_A_COMMAND, oldest first (see handle_text).
        self._hinted: dict[tuple[str, str, str], datetime] = {}

    def lookup(self, name: str) -> CommandSpec | None:
        """Find a command by name or alias, ignoring a leading slash and case."""
        return self._names.get(normalise_name(name))

    def suggest(self, name: str) -> str | None:
        """Return the closest known command name, if one is close enough."""
        matches = difflib.get_close_matches(normalise_name(name), self._names, n=1, cutoff=0.6)
        return self._names[matches[0]].name if matches else None

    def visible_specs(self) -> Sequence[CommandSpec]:
        """Return the commands in registration order."""
        return list(self.specs.values())

    async def handle(self, command: Command) -> Reply:
        """Answer one command and log one line about it; never raises for anything the user typed."""
        started = time.perf_counter()
        outcome: Outcome = "error"
        token = correlation_id.set(secrets.token_hex(4))  # also the incident code of a crash
        try:
            outcome, reply = await self._answer(command)
            return reply
        finally:
            spec = self.lookup(command.name)
            name = spec.name if spec else UNKNOWN_COMMAND
            seconds = time.perf_counter() - started
            ms = round(seconds * 1000)
            platform = command.sender.platform.value
            # A known command's name only: arguments are what people wrote, and are never logged.
            fields = {"command": name, "platform": platform, "outcome": outcome, "duration_ms": ms}
            log.info("/%s on %s: %s in %d ms", name, platform, outcome, ms, extra=fields)
            handled = Handled(spec.name if spec else None, platform, outcome, seconds)
            for observe in self.on_handled:
                try:
                    observe(handled)
                except Exception:  # an observer's bug must not cost the user their reply
                    log.exception("observer of /%s failed", name)
            correlation_id.reset(token)

    async def _answer(self, command: Command) -> tuple[Outcome, Reply]:
        """Answer one command and say how it went: ok, unknown, invalid, refused or error."""
        t = self.translator(command.sender.language_code)
        spec = self.lookup(command.name)
        newcomer = False
        try:
            async with self.sessionmaker() as session:
                async with session.begin():
                    ctx = await self._context(session, command)
                    t, newcomer = ctx.t, ctx.newcomer
                    if spec is None:
                        return "unknown", self._unknown(ctx, command.name)
                    sub, text = spec.split(command.args)
                    await self._authorize(ctx, spec, sub)
                    handler, model = (sub.handler, sub.args) if sub else (spec.handler, spec.args)
                    if handler is None:  # every use names a form, and this one names none
                        raise self._which_form(spec, text)
                    context = {
                        "today": ctx.today,
                        "now": ctx.now,
                        "tz": ctx.tz,
                        DECLARED: self.declared,
                    }
                    if command.fields is not None:
                        args = parse_fields(model, command.fields, context)
                    else:
                        args = parse_args(model, text, context)
                    reply = await handler(ctx, args)
                for hook in self.after_commit:
                    hook(session.info)
                return "ok", reply
        except InvalidInput as exc:
            assert spec is not None  # unknown commands never parse arguments
            await self._remember(command, newcomer)
            # Secondary: shown in italics, and as a grey context line on Slack.
            sub, _ = spec.split(command.args)
            shown = spec.sub_usage(sub, t, self.declared) if sub else spec.usage(t, self.declared)
            usage_line = Markup("<i>%s</i>") % t("Usage: {usage}", usage=shown)
            reason = exc.render(t)
            reply = Reply(text=reason + "\n" + usage_line, error=reason, error_field=exc.field)
            return "invalid", reply
        except DomainError as exc:
            await self._remember(command, newcomer)
            reason = exc.render(t)
            return "refused", Reply(text=reason, error=reason, error_field=exc.field)
        except Exception:
            incident = correlation_id.get()
            log.exception("command /%s failed (incident %s)", command.name, incident)
            await self._remember(command, newcomer)
            reason = t(FAILED, incident=incident)
            return "error", Reply(text=reason, error=reason)

    async def handle_text(self, sender: Identity, chat: Chat) -> Reply | None:
        """Answer a message that is not a command: a hint in a private chat, nothing in a group."""
        if not chat.is_private:  # people talk among themselves there
            return None
        now = self.clock()
        while self._hinted:  # forget hints old enough to be given again
            oldest = next(iter(self._hinted))
            if now - self._hinted[oldest] < HINT_INTERVAL:
                break
            del self._hinted[oldest]
        key = (chat.platform.value, chat.workspace, chat.chat_id)
        if key in self._hinted:
            return None
        self._hinted[key] = now
        try:
            # Read only: a platform may name the sender less fully than with a command
            # (a Slack message has no username), so nothing is created or updated.
            t = await self.translator_for(sender, chat)
        except Exception:
            log.exception("could not answer a message from %s", sender.platform)
            return None
        return Reply(text=t(NOT_A_COMMAND))

    def form_of(self, command: Command) -> tuple[CommandSpec, SubCommand | None] | None:
        """Tell which form a command without arguments (or naming only its form) asks for.

        `/council announce` asks for the announcement's fields, `/council announce cancel` for
        the cancel form's only; None when the command has arguments or no form. Reads nothing.
        """
        spec = self.lookup(command.name)
        if spec is None or command.fields:
            return None
        words = command.args.split()
        if len(words) > 1:
            return None
        sub = spec.subcommand(words[0]) if words else None
        if words and sub is None:
            return None
        return (spec, sub) if spec.has_form(sub) else None

    async def form(self, command: Command) -> Form | Reply | None:
        """Prepare the form of a command sent without arguments (None: it has no form).

        A Reply says why the sender may not use the command, before they fill anything in.
        """
        found = self.form_of(command)
        if found is None:
            return None
        spec, sub = found
        t = self.translator()
        fields = tuple(
            field
            for field in with_declared(fields_of(sub.args if sub else spec.args), self.declared)
            if not field.typed_only
        )
        options: dict[str, tuple[tuple[str, str], ...]] = {}
        try:
            async with self.sessionmaker() as session, session.begin():
                ctx = await self._context(session, command)
                t = ctx.t
                await self._authorize(ctx, spec, sub)
                if any(f.kind == "councils" for f in fields):
                    councils = tuple(await self.directory.council_choices(session))
                    options = {f.name: councils for f in fields if f.kind == "councils"}
                for f in fields:
                    if f.kind == "picked" and f.picks in self.choices:
                        options[f.name] = tuple(await self.choices[f.picks].load(session))
        except DomainError as exc:
            reason = exc.render(t)
            return Reply(text=reason, error=reason)
        return Form(spec=spec, t=t, fields=fields, tz=ctx.tz, options=options, sub=sub)

    async def presence(self, chat: Chat, by: Identity | None, *, present: bool) -> Reply | None:
        """Note that the bot was added to or removed from a chat; return a greeting when added.

        A private chat "removed" is a person blocking the bot: their subscriptions pause
        until they unblock it.
        """
        if chat.is_private:
            if by is not None:
                async with self.sessionmaker() as session, session.begin():
                    await self.directory.set_reachable(session, by, reachable=present)
            return None
        async with self.sessionmaker() as session, session.begin():
            channel = await self.directory.set_channel_presence(
                session, chat, present=present, now=self.clock()
            )
            lang = (
                normalise_language(by.language_code if by else None)
                or (channel.language if channel else None)
                or self.settings.default_language
            )
            council = channel.council.name if channel else None
        if not present:
            return None
        t = self.catalogs.translator(lang)
        if council is not None:
            return Reply(
                text=t(
                    "Hello again! This chat is still linked to <b>{council}</b>: its "
                    "announcements and events will appear here. /help lists what I can do.",
                    council=council,
                )
            )
        return Reply(
            text=t(
                "Hello! I am CouncilBot, the bot of the Cluster Growth Councils. A coordinator "
                "links this chat to its council with /link and the council's short name "
                "(/councils lists them). /help lists what I can do."
            )
        )

    async def chat_moved(self, chat: Chat, new_id: str) -> None:
        """Follow a chat to its new id (a Telegram group upgraded to a supergroup)."""
        async with self.sessionmaker() as session, session.begin():
            await self.directory.follow_moved_chat(session, chat, new_id)

    async def _remember(self, command: Command, newcomer: bool) -> None:
        """Keep a first-time speaker known even though their command was rolled back."""
        if not newcomer:
            return
        try:
            async with self.sessionmaker() as session, session.begin():
                await self.directory.register(session, command.sender, now=self.clock())
        except Exception:
            log.exception("could not register %s", command.sender.platform)

    async def _context(self, session: AsyncSession, command: Command) -> Context:
        now = self.clock()
        speaker = await self.directory.resolve_speaker(
            session, command.sender, command.chat, now=now
        )
        member, channel, newcomer = speaker.member, speaker.channel, speaker.newcomer
        council = channel.council if channel else speaker.home_council
        fallback = self._fallback_language(command.sender, channel, council)
        return Context(
            command=command,
            session=session,
            member=member,
            actor=Actor(
                member_id=member.id,
                bootstrap_admin=self.settings.is_bootstrap_admin(command.sender),
            ),
            channel=channel,
            council=council,
            t=self.catalogs.translator(member.locale or fallback),
            fallback_language=fallback,
            now=now,
            settings=self.settings,
            router=self,
            tz=ZoneInfo(council.timezone) if council else UTC_ZONE,
            newcomer=newcomer,
        )

    def _fallback_language(
        self, sender: Identity, channel: Channel | None, council: Council | None
    ) -> str:
        """Pick the language of someone who chose none: their app's, the chat's, the council's."""
        # So that a newcomer in a Bologna group is answered in Italian.
        return (
            normalise_language(sender.language_code)
            or (channel.locale if channel else None)
            or (council.language if council else None)
            or self.settings.default_language
        )

    async def role_of(self, ctx: Context) -> Role:
        """Return the highest role of the member running the command."""
        if await self.directory.is_admin(ctx.session, ctx.actor):
            return Role.ADMIN
        if await self.directory.is_coordinator_anywhere(ctx.session, ctx.actor):
            return Role.COORDINATOR
        return Role.MEMBER

    async def _authorize(
        self, ctx: Context, spec: CommandSpec, sub: SubCommand | None = None
    ) -> None:
        role = spec.role_of(sub) if sub is not None or spec.handler is not None else spec.least_role
        if role is Role.MEMBER or await self.role_of(ctx) >= role:
            return
        if role is Role.ADMIN:
            raise Forbidden(N_("Only admins can use /{command}."), command=spec.name)
        raise Forbidden(N_("Only coordinators can use /{command}."), command=spec.name)

    async def translator_for(self, sender: Identity, chat: Chat) -> Translator:
        """Speak the language handle() would answer this person in, changing nothing."""
        async with self.reader() as session:
            speaker = await self.directory.find_speaker(session, sender, chat)
            # Someone we never met is spoken to as a newcomer: in the chat's language.
            channel = (
                speaker.channel if speaker else await self.directory.find_channel(session, chat)
            )
        council = channel.council if channel else speaker.home_council if speaker else None
        chosen = speaker.member.locale if speaker else None
        return self.catalogs.translator(chosen or self._fallback_language(sender, channel, council))

    def translator(self, language_code: str | None = None) -> Translator:
        """Speak the language a platform reports for someone, else the default language."""
        return self.catalogs.translator(
            normalise_language(language_code) or self.settings.default_language
        )

    def _which_form(self, spec: CommandSpec, text: str) -> InvalidInput:
        """Say which forms a command has, when the first word names none of them."""
        choices = ", ".join(sub.name for sub in spec.subcommands)
        word = text.split()[0] if text.split() else None
        if word is None:
            return InvalidInput(
                N_("/{command} needs one of: {choices}."), command=spec.name, choices=choices
            )
        close = difflib.get_close_matches(word.lower(), [sub.name for sub in spec.subcommands], 1)
        if close:
            return InvalidInput(
                N_("“{value}” is not one of: {choices}. Did you mean /{command} {suggestion}?"),
                value=word,
                choices=choices,
                command=spec.name,
                suggestion=close[0],
            )
        return InvalidInput(N_("“{value}” is not one of: {choices}."), value=word, choices=choices)

    def unknown(self, name: str) -> NotFound:
        """Say that there is no /name, suggesting the closest command."""
        shown = normalise_name(name) or "?"
        suggestion = self.suggest(name)
        if suggestion:
            return NotFound(
                N_("I don't know /{command}. Did you mean /{suggestion}?"),
                command=shown,
                suggestion=suggestion,
            )
        return NotFound(
            N_("I don't know /{command}. Send /help to see what I can do."), command=shown
        )

    def _unknown(self, ctx: Context, name: str) -> Reply:
        return Reply(text=self.unknown(name).render(ctx.t))

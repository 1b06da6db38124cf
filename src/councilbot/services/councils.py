"""Councils and the channels linked to them; seeding from `config/councils.yaml`."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core import messages
from councilbot.core.errors import Conflict, InvalidInput, NotFound
from councilbot.core.i18n import LANGUAGES, N_
from councilbot.db.models import Channel, ChatLinkCode, Council, Member
from councilbot.delivery import outbox
from councilbot.services import members

NO_COUNCILS = N_(
    "There are no councils yet: whoever runs the bot loads them with <code>councilbot seed</code>."
)


@dataclass(frozen=True, slots=True)
class CouncilInfo:
    """A council's columns, apart from any session: what read-only lists show."""

    id: int
    slug: str
    name: str
    city: str
    timezone: str
    language: str
    focus: str

    @classmethod
    def of(cls, council: Council) -> CouncilInfo:
        return cls(
            council.id,
            council.slug,
            council.name,
            council.city,
            council.timezone,
            council.language,
            council.focus,
        )


async def list_councils(session: AsyncSession) -> list[Council]:
    """Return every council, in slug order."""
    return list(await session.scalars(select(Council).order_by(Council.slug)))


async def require_councils(session: AsyncSession) -> list[Council]:
    """Return every council, in slug order, or raise NotFound when none was loaded yet."""
    found = await list_councils(session)
    if not found:
        raise NotFound(NO_COUNCILS)
    return found


def council_key(text: str) -> str:
    """Fold a council's name as people type it: `Málaga`, `MALAGA` and `malaga` alike.

    Case and accents go (Turkish `İSTANBUL` too), so a slug matches however it is written.
    """
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


async def get_council(session: AsyncSession, slug: str) -> Council:
    """Return the council with this slug (or city), or raise NotFound suggesting the closest one."""
    wanted = council_key(slug)
    councils = await require_councils(session)
    for council in councils:
        # Its slug, or one of its cities: "Málaga / Seville" answers to malaga and seville.
        names = [council.slug, *council.city.split("/")]
        if wanted in {council_key(name) for name in names}:
            return council
    slugs = [c.slug for c in councils]
    if "," in wanted:  # `cork,malaga` where one council is taken
        raise NotFound(
            N_("Please name one council at a time here: {slugs}."), slugs=", ".join(slugs)
        )
    if wanted == "all":  # a command that takes one council
        raise NotFound(
            N_("Please name one council here, not all: {slugs}."), slugs=", ".join(slugs)
        )
    close = difflib.get_close_matches(wanted, slugs, n=1, cutoff=0.5)
    if close:
        raise NotFound(
            N_("There is no council “{slug}”. Did you mean {suggestion}?"),
            slug=slug,
            suggestion=close[0],
        )
    raise NotFound(
        N_("There is no council “{slug}”. The councils are: {slugs}."),
        slug=slug,
        slugs=", ".join(slugs),
    )


async def get_councils(session: AsyncSession, text: str) -> list[Council]:
    """Read `malaga,cork` or `all` into councils, each once, in the order first named."""
    if council_key(text) == "all":
        return await require_councils(session)
    if len(text.split(",")) > 1 and "all" in {council_key(p) for p in text.split(",")}:
        raise InvalidInput(N_("“all” stands alone: write all, or name the councils."))
    found: dict[int, Council] = {}
    for part in text.split(","):
        if part.strip():
            council = await get_council(session, part)
            found.setdefault(council.id, council)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The channel after /link, and the council it was linked to before, if any."""

    channel: Channel
    previous: Council | None


async def link_channel(
    session: AsyncSession,
    chat: messages.Chat,
    channel: Channel | None,
    council: Council,
    *,
    by: Member | None,
    now: datetime,
) -> LinkResult:
    """Link a chat to a council (moving `channel`, the chat's current link, if it has one)."""
    if channel is None:
        channel = Channel(
            platform=chat.platform,
            workspace=chat.workspace,
            external_id=chat.chat_id,
            title=chat.title,
            council_id=council.id,
            council=council,
            active=True,
            linked_by_id=by.id if by else None,
            created_at=now,
            updated_at=now,
        )
        session.add(channel)
        await session.flush()
        return LinkResult(channel, None)
    previous = channel.council
    if previous.id == council.id and channel.active:
        raise Conflict(N_("This chat is already linked to {council}."), council=council.name)
    channel.council_id = council.id
    channel.council = council
    channel.active = True
    channel.title = chat.title or channel.title
    channel.linked_by_id = by.id if by else channel.linked_by_id
    channel.updated_at = now
    await session.flush()
    return LinkResult(channel, previous if previous.id != council.id else None)


async def set_channel_presence(
    session: AsyncSession, chat: messages.Chat, *, present: bool, now: datetime
) -> Channel | None:
    """Record that the bot joined or left a chat; return the chat's link, if it has one.

    A chat the bot left keeps its link but gets nothing sent; adding the bot back resumes it.
    """
    channel = await members.find_channel(session, chat)
    if channel is not None and channel.active != present:
        channel.active = present
        channel.updated_at = now
        await session.flush()
    return channel


async def follow_moved_chat(session: AsyncSession, chat: messages.Chat, new_id: str) -> None:
    """Keep a chat's link, and its unsent messages, when the chat gets a new id."""
    await outbox.follow_moved_chat(
        session, chat.platform, chat.workspace, old=chat.chat_id, new=new_id
    )


async def create_chat_link_code(
    session: AsyncSession, chat: messages.Chat, council: Council, *, now: datetime
) -> ChatLinkCode:
    """Issue a code that lets a coordinator link this chat to the council from elsewhere."""
    await session.execute(
        delete(ChatLinkCode).where(
            ChatLinkCode.platform == chat.platform,
            ChatLinkCode.workspace == chat.workspace,
            ChatLinkCode.chat_id == chat.chat_id,
            ChatLinkCode.used_at.is_(None),
        )
    )
    link = ChatLinkCode(
        code=members.new_code(),
        council_id=council.id,
        platform=chat.platform,
        workspace=chat.workspace,
        chat_id=chat.chat_id,
        chat_kind=chat.kind,
        title=chat.title,
        created_at=now,
        expires_at=now + members.LINK_CODE_TTL,
    )
    session.add(link)
    await session.flush()
    return link


async def redeem_chat_link_code(
    session: AsyncSession, text: str, *, now: datetime
) -> tuple[ChatLinkCode, messages.Chat]:
    """Find a valid chat link code and the chat it names; the caller marks it used."""
    code = members.normalise_code(text)
    link = await session.scalar(
        select(ChatLinkCode).where(ChatLinkCode.code == code).with_for_update()
    )
    if link is None:
        raise NotFound(N_("I don't know that code. Send /link in the chat again for a new one."))
    if link.used_at is not None or link.expires_at <= now:
        raise Conflict(N_("That code was used or has expired. Send /link in the chat again."))
    chat = messages.Chat(
        platform=link.platform,
        workspace=link.workspace,
        chat_id=link.chat_id,
        kind=link.chat_kind,
        title=link.title,
    )
    return link, chat


async def unlink_channel(session: AsyncSession, channel: Channel) -> Council:
    """Remove a chat's link; return the council it was linked to."""
    council = channel.council
    await session.delete(channel)
    await session.flush()
    return council


async def set_channel_language(session: AsyncSession, channel: Channel, lang: str | None) -> None:
    """Set the language the bot uses for this chat's broadcasts."""
    channel.locale = lang
    await session.flush()


# Seeding -----------------------------------------------------------------------------------


class DeskSeed(BaseModel):
    """One desk of a facility."""

    model_config = ConfigDict(extra="forbid")

    code: str
    features: list[str] = Field(default_factory=list)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DeskRules(BaseModel):
    """A facility's booking rules: `desk_rules` in the seed file, each facility's `rules` over it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon_days: int = Field(default=14, ge=0, le=365)  # how far ahead one may book
    per_week: int = Field(default=3, ge=1, le=14)  # bookings per member per week, here
    open_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"]
    )
    opens: time = time(8, 0)
    closes: time = time(19, 0)
    holidays: list[date] = Field(default_factory=list)
    checkin_am: time = time(10, 0)  # deadline of an am or day booking's check-in
    checkin_pm: time = time(14, 0)  # deadline of a pm booking's check-in

    def is_open(self, day: date) -> bool:
        """Tell whether desks can be booked on this local date."""
        return WEEKDAYS[day.weekday()] in self.open_days and day not in self.holidays


class FacilitySeed(BaseModel):
    """A science park, university access point or coworking space with desks."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]{1,63}$")
    name: str
    kind: Literal["science_park", "university", "coworking"]
    address: str
    desks: list[DeskSeed] = Field(min_length=1, max_length=50)
    rules: dict[str, Any] = Field(default_factory=dict)  # over the file's desk_rules


class CouncilSeed(BaseModel):
    """One council as written in the seed file."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name: str
    city: str
    timezone: str
    language: str
    focus: str = ""
    facilities: list[FacilitySeed] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("language")
    @classmethod
    def _language_supported(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return value


class SeedFile(BaseModel):
    """The whole seed file."""

    model_config = ConfigDict(extra="forbid")

    councils: list[CouncilSeed]
    desk_rules: DeskRules = Field(default_factory=DeskRules)

    def rules_of(self, facility: FacilitySeed) -> DeskRules:
        """Return a facility's rules: the file's defaults with its own over them."""
        return DeskRules.model_validate({**self.desk_rules.model_dump(), **facility.rules})

    @model_validator(mode="after")
    def _rules_valid(self) -> SeedFile:
        for council in self.councils:
            for facility in council.facilities:
                self.rules_of(facility)  # raises on a bad rule, naming it
        return self


def read_seed_file(path: Path) -> SeedFile:
    """Read and validate `councils.yaml`."""
    with path.open(encoding="utf-8") as handle:
        return SeedFile.model_validate(yaml.safe_load(handle))


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What a seed run changed."""

    created: int
    updated: int
    unchanged: int


async def seed_councils(session: AsyncSession, seed: SeedFile, *, now: datetime) -> SeedReport:
    """Create or update councils from the seed file; running it twice changes nothing."""
    existing = {c.slug: c for c in await list_councils(session)}
    created = updated = unchanged = 0
    for item in seed.councils:
        fields = item.model_dump(include={"name", "city", "timezone", "language", "focus"})
        council = existing.get(item.slug)
        if council is None:
            session.add(Council(slug=item.slug, created_at=now, updated_at=now, **fields))
            created += 1
        elif any(getattr(council, key) != value for key, value in fields.items()):
            for key, value in fields.items():
                setattr(council, key, value)
            council.updated_at = now
            updated += 1
        else:
            unchanged += 1
    await session.flush()
    return SeedReport(created, updated, unchanged)

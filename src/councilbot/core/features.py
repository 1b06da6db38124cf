"""Features: each declares, in one place, everything the app needs to run it.

A feature is one module (`commands/announcements.py`, `commands/events.py`, ...) ending in
a `FEATURE = Feature(...)` declaration: its commands (with their sub-commands), the kinds
of timed job it schedules (each with what to do when one was missed), the subscription
topic members can follow by direct message, and what it keeps about a member (`MemberData`:
what /mydata exports, what /forgetme erases, what /me, the Slack Home tab, the weekly
digest and the personal calendar feed show of it). What its posts say is rendered by its service
(`services/announcements.py` `renderer`), which it hands to the broadcast service
(`services/broadcast.py`) to send them and to edit them in place.
`app.py` lists the features and builds the router, the scheduler and the topics from them;
nothing else names a feature's parts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.http import HttpGet
from councilbot.core.i18n import Catalogs, Translator
from councilbot.core.messages import Button
from councilbot.core.router import TOPICS, CommandSpec

# session.info key: the events a command's transaction recorded ("booking", "rsvp", "vote"),
# counted in the metrics once it commits (app.py), so that a rolled-back one never counts.
FEATURE_EVENTS = "feature_events"

__all__ = [
    "FEATURE_EVENTS",
    "TOPICS",
    "Choices",
    "Erasure",
    "Feature",
    "Features",
    "HomeSection",
    "JobHandler",
    "JobKind",
    "JobRun",
    "MemberData",
    "MemberHooks",
    "MemberView",
    "Periodic",
    "PeriodicRun",
    "Topic",
]


@dataclass(frozen=True, slots=True)
class HomeSection:
    """One feature's part of a member's home (/me, the Slack Home tab, the weekly digest)."""

    title: str  # safe markup, in the member's language
    lines: tuple[str, ...] = ()  # safe markup, one item each
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class MemberView:
    """What a feature's home and digest hooks are given: whose, when, in which words."""

    session: AsyncSession
    member_id: int
    now: datetime
    t: Translator
    tz: ZoneInfo  # the member's home council's zone (UTC without one)
    since: datetime | None = None  # the digest: the start of the week it covers
    settings: Any = None  # the app's `councilbot.settings.Settings` (a poll's ballot secret)
    # The subscription topics the running features declare, by name (labels, per_council).
    topics: Mapping[str, Topic] = field(default_factory=dict)


# The member's rows of a feature as JSON-able data, for /mydata.
ExportHook = Callable[[AsyncSession, int], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Erasure:
    """What a feature's `forget` is given: whose data to erase, in which transaction, when,
    and how to speak to others it must tell (a freed place goes to the first waiting)."""

    session: AsyncSession
    member_id: int
    now: datetime
    catalogs: Catalogs
    default_language: str = "en"
    # A member row with no name and no accounts: rows a feature keeps as anonymous counts
    # (a past RSVP, a past booking) are moved to it, so that totals stay right.
    stand_in_id: int | None = None


# Erase what the feature keeps about the member (keep anonymous counts, unlink the rest).
ForgetHook = Callable[[Erasure], Awaitable[None]]
# The feature's sections of the member's home or weekly digest (none: nothing to show).
SectionHook = Callable[[MemberView], Awaitable[Sequence[HomeSection]]]
# The member's entries of their personal calendar feed: services.calendar.CalendarEvent.
CalendarHook = Callable[[AsyncSession, int, datetime], Awaitable[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class MemberData:
    """Declare what a feature keeps about a member and what it shows them of it."""

    export: ExportHook | None = None
    forget: ForgetHook | None = None
    home: SectionHook | None = None
    digest: SectionHook | None = None
    calendar: CalendarHook | None = None


# Every feature's MemberData, by feature name, in the features' order.
MemberHooks = tuple[tuple[str, MemberData], ...]


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a job handler is given: the transaction it runs in, its payload, the time, catalogs."""

    session: AsyncSession
    payload: dict[str, Any]
    now: datetime
    catalogs: Catalogs
    default_language: str = "en"  # the operator's COUNCILBOT_DEFAULT_LANGUAGE
    members: MemberHooks = ()  # every feature's MemberData (the weekly digest reads them)
    settings: Any = None  # the app's `councilbot.settings.Settings` (a job may need a secret)


JobHandler = Callable[[JobRun], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobKind:
    """Declare one kind of timed job: what runs when it is due, and when it was missed.

    A job found overdue by more than the scheduler's grace (the bot was down) is not run
    late: it is marked missed, counted, logged, and `missed` runs instead (None: nothing
    more to do), in the same transaction.
    """

    kind: str
    run: JobHandler
    missed: JobHandler | None = None


@dataclass(frozen=True, slots=True)
class PeriodicRun:
    """What periodic work is given: sessions to open (its own transactions), the time, and
    the operator's settings (a `councilbot.settings.Settings`)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    now: datetime
    catalogs: Catalogs
    settings: Any
    get: HttpGet  # one HTTP GET (the composition root's), for reading from the web
    default_language: str = "en"


@dataclass(frozen=True, slots=True)
class Periodic:
    """Declare work the scheduler's leader does at start-up and then every so often.

    Unlike a timed job it is no row: it runs in one process (the scheduler's leader), opens
    its own transactions (so that a slow network read holds no lock), and what it must do
    once it makes sure of in the database. `every` reads its interval in seconds from the
    settings (None: not at all, e.g. no feed configured). A failure is logged and the next
    run comes as planned.
    """

    name: str
    run: Callable[[PeriodicRun], Awaitable[None]]
    every: Callable[[Any], float | None]


@dataclass(frozen=True, slots=True)
class Topic:
    """Declare a subscription topic: the word of `/subscribe <topic>` and its translated label."""

    name: str
    label: str  # a msgid (N_): "magazine issues" in "I will send you {topic} for Cork"
    # Run in the transaction of each /subscribe to the topic (the digest makes sure its
    # weekly job is scheduled).
    subscribed: Callable[[AsyncSession, datetime], Awaitable[None]] | None = None
    # False for a topic that is the same for every council (the magazine): /subscribe takes
    # no council and stores none; a row kept with a council still counts.
    per_council: bool = True


@dataclass(frozen=True, slots=True)
class Choices:
    """Declare a list a form picks a field's value from (fields marked `Picked(kind)`).

    `load` returns (value, label) pairs, read when the form opens: the facilities, say.
    """

    kind: str
    load: Callable[[AsyncSession], Awaitable[Sequence[tuple[str, str]]]]


@dataclass(frozen=True, slots=True)
class Feature:
    """Declare a feature: its commands, timed jobs, subscription topic and member data."""

    name: str
    commands: tuple[CommandSpec, ...] = ()
    jobs: tuple[JobKind, ...] = ()
    topic: Topic | None = None
    choices: tuple[Choices, ...] = ()
    member: MemberData | None = None
    periodic: tuple[Periodic, ...] = ()


@dataclass(frozen=True, slots=True)
class Features:
    """The features the app runs, in the order /help lists their commands, checked once."""

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        _unique("feature", (f.name for f in self.features))
        _unique("job kind", (job.kind for job in self.jobs()))
        _unique("topic", (topic.name for topic in self.topics()))
        _unique("periodic work", (work.name for work in self.periodic()))

    def commands(self) -> list[CommandSpec]:
        """Return every command, feature by feature (the router checks names are unique)."""
        return [spec for feature in self.features for spec in feature.commands]

    def jobs(self) -> list[JobKind]:
        """Return every kind of timed job the features schedule."""
        return [job for feature in self.features for job in feature.jobs]

    def choices(self) -> dict[str, Choices]:
        """Return the lists forms pick from, by kind."""
        return {c.kind: c for feature in self.features for c in feature.choices}

    def periodic(self) -> list[Periodic]:
        """Return the periodic work the features do."""
        return [work for feature in self.features for work in feature.periodic]

    def topics(self) -> list[Topic]:
        """Return the subscription topics, in the features' order."""
        return [feature.topic for feature in self.features if feature.topic is not None]

    def members(self) -> MemberHooks:
        """Return what each feature keeps about members, in the features' order."""
        return tuple((f.name, f.member) for f in self.features if f.member is not None)


def _unique(what: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is declared twice")
        seen.add(name)

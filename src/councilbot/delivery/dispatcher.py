"""The dispatcher: claims due outbox rows and sends them at each platform's allowed pace.

Each claimed row gets a send slot from the rate limiter (Telegram: per bot, per
private chat, per group; Slack: per channel) and is sent by its platform's target.
Outcomes are written back in small batches: a crash loses at most the outcomes of
the messages in flight, which are sent again once their lease expires. A stop gives back
the rows still waiting for their send slot (due at once, for any dispatcher) and lets the
sends in flight finish.

A workspace whose credentials the platform refuses (a revoked Slack token) is held: its
messages wait in the outbox without using up attempts, one of them tries again every
`hold_probe` seconds (the others claimed meanwhile wait for its answer), the first refusal
is logged once as an error, and `held` tells /healthz, until a send gets through. The
messages waiting for a try take their send slots only once it got through, so they go out
in order and at their chats' pace; a try that learns nothing about the credentials (a 5xx,
a timeout) is no refusal: the next message tries at once.

Edits and deletions of what was posted are rows too, paced in their chat's buckets and
retried alike. One whose post never went out is cancelled without asking the platform, and
a deletion the platform would refuse for the post's age (a Telegram message older than 48
hours: the target's `delete_window`) fails without a request. The platform's refusal of an
edit or deletion fails it, marked so that /deliveries can say which platform did not allow
what; a chat that moved fails it too (the message stayed in the old chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import DeliveryOperation
from councilbot.delivery import outbox
from councilbot.delivery.files import FileGone, FileLoader
from councilbot.delivery.outbox import Claimed
from councilbot.delivery.ratelimit import BucketKey, Rate, RateLimiter
from councilbot.delivery.targets import (
    DeliveryError,
    DeliveryTarget,
    Moved,
    NotAllowed,
    Outgoing,
    PermanentError,
    Rejected,
    RetryAfter,
    TransientError,
    Unauthorized,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """How hard the dispatcher works and how patiently it retries."""

    batch: int = 200
    max_in_flight: int = 256
    # Requests open at once; more would only queue inside the HTTP client's pool, whose
    # bookkeeping grows with the queue.
    send_concurrency: int = 32
    lease: timedelta = timedelta(seconds=60)
    poll_interval: float = 1.0
    flush_interval: float = 0.05
    max_attempts: int = 8
    backoff_first: float = 2.0  # seconds before the first retry; doubles each time
    backoff_cap: float = 900.0
    max_hold: float = 10.0  # longest a claimed row waits in memory for its send slot
    hold_probe: float = 60.0  # seconds between tries of a workspace whose credentials failed


# We pace slightly under each limit: a request's arrival at the platform jitters by a few
# milliseconds, and a sliding-window limiter counts arrivals, not our send times.
HEADROOM = 0.97


def platform_rates(
    *,
    telegram_per_second: float = 30.0,
    telegram_private_per_second: float = 1.0,
    telegram_group_per_minute: float = 20.0,
    slack_channel_per_second: float = 1.0,
) -> dict[str, Rate]:
    """Build the rate rules the dispatcher uses, from the operator's settings."""
    return {
        "telegram": Rate(telegram_per_second * HEADROOM, 1.0),
        "telegram.private": Rate(telegram_private_per_second * HEADROOM, 1.0),
        "telegram.group": Rate(telegram_group_per_minute * HEADROOM, 60.0),
        "slack.channel": Rate(slack_channel_per_second * HEADROOM, 1.0),
    }


def bucket_keys(message: Outgoing) -> list[BucketKey]:
    """Name the rate buckets a message counts against, most specific last."""
    if message.platform is Platform.TELEGRAM:
        kind = "telegram.private" if message.chat_kind is ChatKind.PRIVATE else "telegram.group"
        return [("telegram", ""), (kind, message.chat_id)]
    if message.platform is Platform.SLACK:
        return [("slack.channel", f"{message.workspace}:{message.chat_id}")]
    return []


@dataclass(slots=True)
class _Outcomes:
    sent: list[tuple[Claimed, str | None]] = field(default_factory=list)
    retry: list[tuple[Claimed, datetime, str | None, bool]] = field(default_factory=list)
    failed: list[tuple[Claimed, str]] = field(default_factory=list)
    dead: list[tuple[Claimed, str]] = field(default_factory=list)
    moved: list[tuple[Claimed, str, str]] = field(default_factory=list)  # row, new chat, why
    released: list[Claimed] = field(default_factory=list)  # never sent: given back on stop
    cancelled: list[Claimed] = field(default_factory=list)  # changes of posts never sent

    def __bool__(self) -> bool:
        return any(getattr(self, kind.name) for kind in fields(self))

    def put_back(self, earlier: _Outcomes) -> None:
        """Put outcomes that could not be recorded in front of the newer ones."""
        for kind in fields(self):
            getattr(self, kind.name)[:0] = getattr(earlier, kind.name)


class Verdict(Enum):
    """What one send tells about its workspace's credentials."""

    ACCEPTED = "accepted"  # the platform took them (whatever it made of the message)
    REFUSED = "refused"  # the platform refused them: the workspace is held
    UNKNOWN = "unknown"  # no answer about them: a 5xx, a timeout, a 429, no target


@dataclass(slots=True)
class Hold:
    """A workspace whose credentials the platform refused: its messages wait."""

    reason: str
    since: datetime
    probe_at: datetime  # when the next message may try again
    probe: asyncio.Future[Verdict] | None = None  # a try in flight: what it learnt


@dataclass(slots=True)
class Stats:
    """Counters for metrics and benchmarks."""

    # (result, platform): sent, edited, deleted, retried, rate_limited, rejected, refused
    # (an edit or deletion the platform does not allow), failed, dead, moved, held, cancelled.
    results: Counter[tuple[str, Platform]] = field(default_factory=Counter)
    # (platform, HTTP status class of the error answer: 2xx, 429, 4xx, 5xx; none: no answer).
    errors: Counter[tuple[Platform, str]] = field(default_factory=Counter)

    def count(self, result: str, platform: Platform) -> None:
        """Count one send's result by platform."""
        self.results[result, platform] += 1

    def answered(self, platform: Platform, status: int | None) -> None:
        """Count an error answer of a platform by its HTTP status class."""
        if status is None:
            self.errors[platform, "none"] += 1
        else:
            self.errors[platform, "429" if status == 429 else f"{status // 100}xx"] += 1


class Dispatcher:
    """Send the outbox's due rows through their platforms' targets."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        targets: Mapping[Platform, DeliveryTarget],
        limiter: RateLimiter,
        config: DispatchConfig = DispatchConfig(),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        worker: str | None = None,
        files: FileLoader | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.files = files or FileLoader(sessionmaker)
        self._targets = dict(targets)
        self._limiter = limiter
        self.config = config
        self._clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.stats = Stats()
        self._outcomes = _Outcomes()
        self.held: dict[tuple[Platform, str], Hold] = {}  # (platform, workspace) -> why
        self._in_flight: dict[asyncio.Task[None], Claimed] = {}  # send tasks and their rows
        self._out: set[int] = set()  # rows whose request has gone to the platform
        self._wake = asyncio.Event()
        self._sending = asyncio.Semaphore(config.send_concurrency)
        self._flushing = asyncio.Lock()
        self._stopping = False
        self._started = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run in the background until stop()."""
        self._stopping, self._started = False, True
        self._task = asyncio.create_task(self.run(), name=f"dispatcher {self.worker}")
        self._task.add_done_callback(_log_crash)

    @property
    def problem(self) -> str | None:
        """Say why this dispatcher is not sending (None: it runs, or was never started)."""
        if not self._started:
            return None
        if self._task is None or self._task.cancelled():
            return "stopped"
        if not self._task.done():
            return None
        crash = self._task.exception()
        return f"crashed ({type(crash).__name__})" if crash else "stopped"

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, give back rows not sent yet, let sends in flight finish, record all."""
        self._stopping = True
        self.wake()
        running, self._task = self._task, None
        if running is not None:
            # A crash was logged when it happened; the rest of the shutdown must still run.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
        # A row still waiting for its send slot has not reached the platform: cancelling its
        # task and giving the row back lets another dispatcher send it now, not after the lease.
        waiting = {t: row for t, row in self._in_flight.items() if row.id not in self._out}
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        released = [row for task, row in waiting.items() if task.cancelled()]
        self._outcomes.released += released
        if self._in_flight or released:
            log.info(
                "dispatcher stopping: %d claimed deliveries given back, waiting up to %.0f s "
                "for %d sends in flight",
                len(released),
                grace,
                len(self._in_flight),
            )
        if self._in_flight:
            _done, pending = await asyncio.wait(self._in_flight, timeout=grace)
            if pending:  # their outcome is unknown: the lease brings them back, maybe twice
                log.warning(
                    "%d sends still unanswered after %.0f s; left to their lease",
                    len(pending),
                    grace,
                )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._flush()
        if running is not None:
            log.info("dispatcher stopped: the outcomes of its sends are recorded")

    async def run(self) -> None:
        """Claim, pace and send until stopped."""
        flusher = asyncio.create_task(self._flush_forever())
        try:
            while not self._stopping:
                limit, claimed = await self._fill()
                if limit <= 0 or claimed < limit:
                    # Nothing more is due, or we are full: wait for a wake-up or the poll.
                    await self._sleep(self.config.poll_interval)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def run_until_idle(self) -> None:
        """Send until nothing is due or in flight (for tests, benchmarks and the console's exit)."""
        while True:
            limit, claimed = await self._fill()
            if claimed < limit:  # nothing more is due now: finish what is in flight
                while self._in_flight:  # (a message that waited for a probe sends anew)
                    await asyncio.wait(self._in_flight)
                await self._flush()
                if not claimed:
                    return
            # Keep the pipe full: claim the next batch once half of this one is out.
            while len(self._in_flight) > self.config.max_in_flight // 2:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _fill(self) -> tuple[int, int]:
        """Claim as many due rows as there is room for and schedule them; return (room, claimed)."""
        limit = min(self.config.max_in_flight - len(self._in_flight), self.config.batch)
        claimed = await self._claim(limit) if limit > 0 else []
        for row in claimed:
            if not self._settled_without_sending(row):
                self._schedule(row)
        return limit, len(claimed)

    def _settled_without_sending(self, row: Claimed) -> bool:
        """Settle an edit or deletion that needs no request; return whether it did."""
        if row.operation is DeliveryOperation.SEND:
            return False
        platform = row.message.platform
        if not row.post_sent or row.message_id is None:
            self.stats.count("cancelled", platform)  # its post never went out
            self._outcomes.cancelled.append(row)
            return True
        window = getattr(self._targets.get(platform), "delete_window", None)
        if (
            row.operation is DeliveryOperation.DELETE
            and window is not None
            and row.posted_at is not None
            and self._clock() - row.posted_at >= window
        ):
            self.stats.count("refused", platform)
            hours = window.total_seconds() / 3600
            reason = f"{platform.value}: posted more than {hours:g} hours ago"
            self._outcomes.failed.append((row, outbox.TOO_OLD + reason))
            return True
        return False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _claim(self, limit: int) -> list[Claimed]:
        try:
            async with self._sessionmaker() as session, session.begin():
                return await outbox.claim(
                    session,
                    worker=self.worker,
                    limit=limit,
                    now=self._clock(),
                    lease=self.config.lease,
                )
        except Exception:
            log.exception("could not claim deliveries; retrying")
            await asyncio.sleep(self.config.poll_interval)
            return []

    def _schedule(self, row: Claimed) -> None:
        hold = self.held.get((row.message.platform, row.message.workspace))
        if hold is not None:
            if hold.probe is not None:
                # Another message is trying the workspace: wait for its answer before taking
                # a send slot, so that the waiting messages keep their order and chats' pace.
                self._start(row, self._after_probe(row, hold, hold.probe))
                return
            if self._clock() < hold.probe_at:
                self._wait_for_probe(row, hold)
                return
            hold.probe = asyncio.get_running_loop().create_future()  # this message tries
        keys = bucket_keys(row.message)
        wait = self._limiter.reserve(keys, max_delay=self.config.max_hold)
        if wait > self.config.max_hold:
            # Too long to hold the claim (nothing was reserved): hand the row back, due
            # when its slot comes.
            if hold is not None:
                self._end_probe(hold, Verdict.UNKNOWN)
            at = self._clock() + timedelta(seconds=wait)
            self._outcomes.retry.append((row, at, None, False))
            return
        self._start(row, self._send(row, keys, wait, hold))

    def _start(self, row: Claimed, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._in_flight[task] = row
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        row = self._in_flight.pop(task)
        self._out.discard(row.id)
        if len(self._in_flight) < self.config.max_in_flight // 2:
            self.wake()

    async def _after_probe(self, row: Claimed, hold: Hold, probe: asyncio.Future[Verdict]) -> None:
        """Schedule the row once the probe got through; otherwise put it back until the next."""
        if await asyncio.shield(probe) is Verdict.ACCEPTED:
            self._schedule(row)
        else:
            self._wait_for_probe(row, hold)

    async def _send(
        self, row: Claimed, keys: list[BucketKey], wait: float, probing: Hold | None
    ) -> None:
        """Send the row when its slot comes (`probing`: it tries its held workspace)."""
        workspace = (row.message.platform, row.message.workspace)
        verdict = Verdict.UNKNOWN
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            if probing is None and workspace in self.held:
                self._schedule(row)  # held while it waited for its slot: the hold decides
                return
            verdict = await self._deliver(row, keys)
        finally:
            if probing is not None:  # cancelled too: the messages waiting for it must go on
                self._end_probe(probing, verdict)
        if verdict is Verdict.ACCEPTED and self.held.pop(workspace, None) is not None:
            log.warning("%s no longer refuses the credentials of workspace %r", *workspace)

    def _end_probe(self, hold: Hold, verdict: Verdict) -> None:
        """Tell the messages waiting for the hold's probe what it learnt."""
        if verdict is Verdict.UNKNOWN:  # not a refusal: the next message tries at once
            hold.probe_at = self._clock()
        probe, hold.probe = hold.probe, None
        assert probe is not None  # set by _schedule for the message that tries
        probe.set_result(verdict)

    async def _deliver(self, row: Claimed, keys: list[BucketKey]) -> Verdict:
        """Send one row, note its outcome and say what it told about the credentials."""
        target = self._targets.get(row.message.platform)
        try:
            if target is None:
                raise TransientError(f"{row.message.platform.value} is not configured")
            message = await self._with_file(row.message)
            async with self._sending:
                self._out.add(row.id)  # from here on the platform may have it: stop() waits
                try:
                    message_id = await _perform(target, row, message)
                except DeliveryError as exc:
                    self.stats.answered(row.message.platform, exc.status)
                    raise
        except Unauthorized as exc:
            self.stats.count("held", row.message.platform)
            self._hold(row, exc.reason)
            return Verdict.REFUSED
        except RetryAfter as exc:
            self.stats.count("rate_limited", row.message.platform)
            if keys:
                self._limiter.pause(keys[-1], exc.seconds)
            at = self._clock() + timedelta(seconds=exc.seconds)
            self._outcomes.retry.append((row, at, exc.reason, False))
            return Verdict.UNKNOWN
        except Moved as exc:
            self.stats.count("moved", row.message.platform)
            log.info("delivery %s: chat moved to %s", row.id, exc.chat_id)
            if row.operation is DeliveryOperation.SEND:
                self._outcomes.moved.append((row, exc.chat_id, exc.reason))
            else:  # the message stayed in the old chat, where nothing can change it now
                self._outcomes.failed.append((row, exc.reason))
        except NotAllowed as exc:
            self.stats.count("refused", row.message.platform)
            log.info("delivery %s: %s not allowed: %s", row.id, row.operation.value, exc.reason)
            self._outcomes.failed.append((row, outbox.NOT_ALLOWED + exc.reason))
        except Rejected as exc:
            self.stats.count("rejected", row.message.platform)
            log.warning("delivery %s was refused: %s", row.id, exc.reason)
            self._outcomes.failed.append((row, exc.reason))
        except PermanentError as exc:
            self.stats.count("dead", row.message.platform)
            log.warning("delivery %s is dead: %s", row.id, exc.reason)
            self._outcomes.dead.append((row, exc.reason))
        except Exception as exc:
            reason = exc.reason if isinstance(exc, TransientError) else f"unexpected: {exc!r}"
            if not isinstance(exc, TransientError):
                log.exception("delivery %s failed unexpectedly", row.id)
            if row.attempts >= self.config.max_attempts:
                self.stats.count("failed", row.message.platform)
                self._outcomes.failed.append((row, reason))
            else:
                self.stats.count("retried", row.message.platform)
                at = self._clock() + timedelta(seconds=self._backoff(row.attempts))
                self._outcomes.retry.append((row, at, reason, True))
            return Verdict.UNKNOWN
        else:
            self.stats.count(_DONE[row.operation], row.message.platform)
            self._outcomes.sent.append((row, message_id))
        return Verdict.ACCEPTED

    async def _with_file(self, message: Outgoing) -> Outgoing:
        """Return the message with its file's bytes read, ready for its target."""
        if message.file is None:
            return message
        try:
            file = await self.files.load(message.file)
        except FileGone as exc:
            raise Rejected(str(exc)) from None
        except Exception as exc:  # the database: the next attempt reads it again
            raise TransientError(
                f"could not read file {message.file.id} ({type(exc).__name__})"
            ) from None
        return message.model_copy(update={"file": file})

    def _hold(self, row: Claimed, reason: str) -> None:
        """Hold the row's workspace, logging it once, and put the row back until the next probe."""
        workspace = (row.message.platform, row.message.workspace)
        now = self._clock()
        probe_at = now + timedelta(seconds=self.config.hold_probe)
        hold = self.held.get(workspace)
        if hold is None:
            log.error(
                "%s refused the credentials of workspace %r (%s): its messages wait in the "
                "outbox and its chats stay linked; fix the token or reinstall the app",
                *workspace,
                reason,
            )
            hold = self.held[workspace] = Hold(reason, since=now, probe_at=probe_at)
        else:
            hold.reason, hold.probe_at = reason, max(hold.probe_at, probe_at)
        self._wait_for_probe(row, hold)

    def _wait_for_probe(self, row: Claimed, hold: Hold) -> None:
        """Put a held workspace's row back, due at the next probe, without counting the attempt."""
        self._outcomes.retry.append((row, hold.probe_at, outbox.HELD + hold.reason, False))

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter, so retries of a burst spread out."""
        ceiling = min(self.config.backoff_cap, self.config.backoff_first * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval)
            # Shielded: run() cancels this loop when it stops, and a write cancelled halfway
            # would lose the outcomes it took; stop()'s last flush waits for it instead.
            await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        async with self._flushing:
            await self._write_outcomes()

    async def _write_outcomes(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, _Outcomes()
        try:
            async with self._sessionmaker() as session, session.begin():
                now = self._clock()
                await outbox.mark_sent(session, outcomes.sent, now=now)
                for row, at, error, counted in outcomes.retry:
                    await outbox.mark_retry(session, row, at=at, error=error, count_attempt=counted)
                for row, error in outcomes.failed:
                    await outbox.mark_failed(session, row, error=error)
                for row, error in outcomes.dead:
                    await outbox.mark_dead(session, row, error=error)
                for row, chat_id, error in outcomes.moved:
                    await outbox.mark_moved(session, row, chat_id=chat_id, error=error, now=now)
                await outbox.release(session, outcomes.released, now=now)
                await outbox.mark_cancelled(session, outcomes.cancelled)
        except Exception:
            # Keep them for the next flush; if we die first, leases bring the rows back.
            log.exception("could not record delivery outcomes; will retry")
            self._outcomes.put_back(outcomes)


_DONE = {
    DeliveryOperation.SEND: "sent",
    DeliveryOperation.EDIT: "edited",
    DeliveryOperation.DELETE: "deleted",
}


async def _perform(target: DeliveryTarget, row: Claimed, message: Outgoing) -> str | None:
    """Send, edit or delete `message` (the row's, its file read); return the message's id."""
    if row.operation is DeliveryOperation.SEND:
        return await target.deliver(message)
    assert row.message_id is not None  # checked by _settled_without_sending
    if row.operation is DeliveryOperation.EDIT:
        await target.edit(message, row.message_id)
    else:
        await target.delete(message, row.message_id)
    return row.message_id


def _log_crash(task: asyncio.Task[None]) -> None:
    """Log a dispatcher that died of a bug (/healthz reports it too)."""
    if not task.cancelled() and (crash := task.exception()) is not None:
        log.error("the dispatcher crashed", exc_info=crash)

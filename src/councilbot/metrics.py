"""Prometheus metrics of one App, in a registry of its own (no process-wide default registry).

Commands are counted as the router answers them (its `on_handled` hook); the dispatcher's
and the scheduler's counters and the outbox's state are read when /metrics is scraped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.router import UNKNOWN_COMMAND, Handled
from councilbot.db.models import Delivery, DeliveryStatus
from councilbot.delivery import outbox
from councilbot.delivery.dispatcher import Dispatcher
from councilbot.delivery.scheduler import Scheduler

log = logging.getLogger(__name__)

WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
# Commands take milliseconds; a slow database or a broadcast to many chats takes seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FeatureEvent = Literal["rsvp", "booking", "vote"]


@dataclass(frozen=True, slots=True)
class OutboxState:
    """The outbox as one scrape found it."""

    rows: dict[DeliveryStatus, int]
    oldest_due: datetime | None  # next_attempt_at of the oldest row a dispatcher may claim


class Metrics(Collector):
    """Count what the bot does and render it in Prometheus' text formats."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        scheduler: Scheduler,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        timeout: float = 2.0,
    ) -> None:
        self.registry = CollectorRegistry()
        self._dispatcher = dispatcher
        self._scheduler = scheduler
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._timeout = timeout
        self._outbox: OutboxState | None = None
        self._commands = Counter(
            "councilbot_commands",
            "Commands answered, by command, platform and outcome.",
            ["command", "platform", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "councilbot_command_duration_seconds",
            "Time the router took to answer a command, its transaction included.",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Registered now so that dashboards find them; the events, desks and polls features
        # call count_event() when they land, and until then they stay at 0.
        self._events = {
            "rsvp": Counter("councilbot_rsvps", "RSVPs recorded.", registry=self.registry),
            "booking": Counter("councilbot_bookings", "Desks booked.", registry=self.registry),
            "vote": Counter("councilbot_votes", "Poll votes cast.", registry=self.registry),
        }
        self.registry.register(self)  # collect() reads the parts at each scrape

    def observe(self, handled: Handled) -> None:
        """Count one command the router answered and how long it took."""
        name = handled.name or UNKNOWN_COMMAND
        self._commands.labels(name, handled.platform, handled.outcome).inc()
        self._latency.labels(name).observe(handled.seconds)

    def count_event(self, event: FeatureEvent) -> None:
        """Count an RSVP, a desk booking or a vote (called by those features once they exist)."""
        self._events[event].inc()

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """Read the outbox (within the timeout) and render every metric; return body and type."""
        try:
            async with asyncio.timeout(self._timeout), self._sessionmaker() as session:
                self._outbox = await _outbox_state(session, self._clock())
        except Exception as exc:  # only the class name: messages may hold URLs or SQL
            log.warning("metrics: outbox query failed (%s)", type(exc).__name__)
            self._outbox = None
        # No await from here on: this scrape renders the state it just read.
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def collect(self) -> Iterable[Metric]:
        """Yield the dispatcher's, the scheduler's and the outbox's figures."""
        stats = self._dispatcher.stats
        deliveries = CounterMetricFamily(
            "councilbot_deliveries",
            "Sends, edits and deletions by result (sent, edited, deleted, retried, rate_limited, "
            "rejected, refused, failed, dead, moved, held, cancelled) and platform.",
            labels=["result", "platform"],
        )
        for (result, platform), n in sorted(stats.results.items()):
            deliveries.add_metric([result, platform.value], n)
        yield deliveries
        errors = CounterMetricFamily(
            "councilbot_platform_errors",
            "Error answers of the platforms by HTTP status class (429, 4xx, 5xx; 2xx: an error "
            "in a 200 answer; none: no answer).",
            labels=["platform", "status_class"],
        )
        for (platform, status_class), n in sorted(stats.errors.items()):
            errors.add_metric([platform.value, status_class], n)
        yield errors
        jobs = CounterMetricFamily(
            "councilbot_scheduler_jobs",
            "Timed jobs fired or found missed, by kind.",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), n in sorted(self._scheduler.counts.items()):
            jobs.add_metric([kind, outcome], n)
        yield jobs
        yield GaugeMetricFamily(
            "councilbot_scheduler_leader",
            "1 if this process runs the timed jobs now, else 0.",
            value=int(self._scheduler.leading),
        )
        yield from self._outbox_metrics()

    def _outbox_metrics(self) -> Iterable[Metric]:
        """Yield the outbox gauges of the last scrape, and whether its query worked."""
        state = self._outbox
        yield GaugeMetricFamily(
            "councilbot_database_up",
            "1 if the outbox query of this scrape answered in time, else 0 (and no outbox gauges).",
            value=int(state is not None),
        )
        if state is None:
            return
        rows = GaugeMetricFamily(
            "councilbot_outbox_rows", "Outbox rows by delivery status.", labels=["status"]
        )
        for status in DeliveryStatus:
            rows.add_metric([status.value], state.rows.get(status, 0))
        yield rows
        yield GaugeMetricFamily(
            "councilbot_outbox_depth",
            "Deliveries still to send: pending or being sent.",
            value=sum(state.rows.get(status, 0) for status in WAITING),
        )
        age = 0.0
        if state.oldest_due is not None:
            age = max(0.0, (self._clock() - state.oldest_due).total_seconds())
        yield GaugeMetricFamily(
            "councilbot_outbox_oldest_pending_seconds",
            "How long the oldest due delivery has waited since it became due (0 when none is).",
            value=age,
        )


async def _outbox_state(session: AsyncSession, now: datetime) -> OutboxState:
    """Count the outbox's rows by status and find since when the oldest due one is due."""
    # Rows waiting on purpose (a retry's backoff, a rate limit, a held workspace) are not
    # due yet: only a due row that nobody sends means the outbox is stuck.
    rows = await outbox.status_counts(session)
    oldest = await session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(outbox.is_due(now))
    )
    return OutboxState(rows, oldest)

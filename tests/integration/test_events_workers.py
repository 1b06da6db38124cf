"""Two `councilbot run` processes on one PostgreSQL: 50 members press Going at once, half of
them through each process, for 10 places. Exactly 10 go and 40 wait, in arrival order."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.models import Event, Rsvp, RsvpStatus
from tests.adapters.telegram.test_run import update
from tests.integration.test_workers import SECRET, Cluster, cluster, database
from tests.processes import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
__all__ = ["cluster", "database"]  # the fixtures, shared
MEMBERS = 50
PLACES = 10


async def press_going(http: aiohttp.ClientSession, port: int, user: int, update_id: int) -> None:
    """Send `/rsvp E1` from one member's private chat to one process's webhook."""
    data = update("/rsvp E1", update_id)
    data["message"]["from"].update(id=user, username=f"m{user}", first_name=f"M{user}")
    data["message"]["chat"].update(id=user, username=f"m{user}", first_name=f"M{user}")
    async with http.post(
        f"http://127.0.0.1:{port}/telegram/webhook",
        json=data,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    ) as response:
        assert response.status == 200


async def test_fifty_going_through_two_processes_for_ten_places(
    cluster: Cluster, database: AsyncEngine
) -> None:
    await cluster.start("one", "all")
    await cluster.start("two", "all")
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    await cluster.say("one", f'/newevent "Open day" {day} 10:00-12:00 cap {PLACES} --to cork --yes')
    ports = [port for _process, port in cluster.processes.values()]
    users = [7000 + n for n in range(MEMBERS)]
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(
            *(press_going(http, ports[n % 2], user, 5000 + n) for n, user in enumerate(users))
        )
    await wait_for(lambda: all(cluster.api.texts_to(str(u)) for u in users), 60)
    replies = {u: cluster.api.texts_to(str(u))[0] for u in users}
    assert sum(r.startswith("You are going") for r in replies.values()) == PLACES
    async with database.connect() as conn:
        rows = (await conn.execute(select(Rsvp.turn, Rsvp.status).order_by(Rsvp.turn))).all()
        taken = await conn.scalar(select(Event.taken))
    assert taken == PLACES
    assert [turn for turn, _ in rows] == list(range(1, MEMBERS + 1))
    assert [status for _, status in rows] == [RsvpStatus.GOING] * PLACES + [RsvpStatus.WAITING] * (
        MEMBERS - PLACES
    )
    # Each member waiting was told their own place in the queue.
    told = sorted(int(m[1]) for r in replies.values() if (m := re.search(r"number (\d+) on", r)))
    assert told == list(range(1, MEMBERS - PLACES + 1))

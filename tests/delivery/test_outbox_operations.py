"""Edits and deletions in the outbox's storage, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.messages import Button, ChatKind, Platform
from councilbot.db.models import Delivery, DeliveryOperation, DeliveryStatus
from councilbot.db.session import create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Claimed, Envelope, Posted
from councilbot.delivery.targets import Outgoing
from tests.conftest import START

LEASE = timedelta(seconds=30)
CHATS = ("-1001", "-1002", "-1003")


def post(chat: str, text: str = "7 going") -> Envelope:
    return Envelope(
        key=f"event:1:{chat}",
        message=Outgoing(platform=Platform.TELEGRAM, chat_id=chat, text=text),
        source="event",
        source_id=1,
    )


def saying(text: str, buttons: tuple = ()) -> outbox.Render:
    """Render every post as `text` (with `buttons`), keeping its chat."""

    def render(posted: Posted) -> Outgoing:
        return posted.message.model_copy(update={"text": text, "buttons": buttons})

    return render


async def enqueue(engine: AsyncEngine, *chats: str, at: datetime = START) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.enqueue(session, [post(chat) for chat in chats], now=at)


async def claim(engine: AsyncEngine, now: datetime = START, worker: str = "w") -> list[Claimed]:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await outbox.claim(session, worker=worker, limit=100, now=now, lease=LEASE)


async def mark_sent(engine: AsyncEngine, claimed: list[Claimed], now: datetime = START) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.mark_sent(session, [(c, c.message_id or f"m{c.id}") for c in claimed], now=now)


async def send_all(engine: AsyncEngine, now: datetime = START) -> list[Claimed]:
    claimed = await claim(engine, now)
    await mark_sent(engine, claimed, now)
    return claimed


async def edit(
    engine: AsyncEngine, render: outbox.Render, now: datetime = START, **kw: timedelta
) -> int:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await outbox.enqueue_edits(session, "event", 1, render, now=now, **kw)


async def delete(engine: AsyncEngine, now: datetime = START) -> int:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await outbox.enqueue_deletes(session, "event", 1, now=now)


async def rows(engine: AsyncEngine) -> list[Delivery]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


def summary(claimed: list[Claimed]) -> list[tuple[str, str, str | None, str]]:
    return [(c.operation.value, c.message.chat_id, c.message_id, c.message.text) for c in claimed]


async def test_a_post_not_sent_yet_is_rewritten_in_place(engine: AsyncEngine) -> None:
    await enqueue(engine, *CHATS)
    assert await edit(engine, saying("8 going")) == 3
    assert [(r.operation, r.payload["text"]) for r in await rows(engine)] == [
        (DeliveryOperation.SEND, "8 going")
    ] * 3
    assert [c.message.text for c in await claim(engine)] == ["8 going"] * 3


async def test_a_sent_post_gets_one_edit_and_a_newer_edit_replaces_it(engine: AsyncEngine) -> None:
    await enqueue(engine, *CHATS)
    posts = await send_all(engine)
    buttons = ((Button(label="Going", command="/rsvp 1"),),)
    assert await edit(engine, saying("8 going")) == 3
    assert await edit(engine, saying("9 going", buttons)) == 3
    assert await edit(engine, saying("9 going", buttons)) == 0  # nothing would change

    claimed = await claim(engine)
    assert summary(claimed) == [
        ("edit", chat, f"m{p.id}", "9 going") for chat, p in zip(CHATS, posts, strict=True)
    ]
    assert all(c.message.buttons == buttons for c in claimed)
    edits = [r for r in await rows(engine) if r.operation is DeliveryOperation.EDIT]
    assert [(r.post_id, r.status) for r in edits] == [(p.id, DeliveryStatus.SENDING) for p in posts]


async def test_render_none_leaves_a_post_alone(engine: AsyncEngine) -> None:
    await enqueue(engine, *CHATS)
    await send_all(engine)

    def only_the_second(posted: Posted) -> Outgoing | None:
        return saying("8 going")(posted) if posted.message.chat_id == "-1002" else None

    assert await edit(engine, only_the_second) == 1
    assert summary(await claim(engine)) == [("edit", "-1002", "m2", "8 going")]


async def test_edits_of_a_post_come_no_sooner_than_the_throttle(engine: AsyncEngine) -> None:
    await enqueue(engine, "-1001")
    await send_all(engine)
    throttle = timedelta(seconds=5)
    await edit(engine, saying("8 going"), throttle=throttle)
    (first,) = await claim(engine)  # the first edit is due at once
    await mark_sent(engine, [first])

    second = START + timedelta(seconds=1)
    await edit(engine, saying("9 going"), now=second, throttle=throttle)
    await edit(engine, saying("10 going"), now=second, throttle=throttle)
    assert await claim(engine, START + timedelta(seconds=4)) == []
    (edit_row,) = await claim(engine, START + throttle)
    assert edit_row.message.text == "10 going"


async def test_an_edit_written_while_the_previous_is_in_flight_follows_it(
    engine: AsyncEngine,
) -> None:
    await enqueue(engine, "-1001")
    await send_all(engine)
    await edit(engine, saying("8 going"))
    (in_flight,) = await claim(engine)
    later = START + timedelta(seconds=1)
    await edit(engine, saying("9 going"), now=later)
    # Never beside the edit in flight, which might land after it (until its lease runs out).
    assert await claim(engine, later + timedelta(seconds=20)) == []

    await mark_sent(engine, [in_flight], now=later)
    (following,) = await claim(engine, later)
    assert (following.id, following.message.text) == (in_flight.id, "9 going")
    assert following.attempts == 1  # a new payload: its tries start again


async def test_an_edit_of_a_post_being_sent_waits_for_it(engine: AsyncEngine) -> None:
    await enqueue(engine, "-1001")
    (sending,) = await claim(engine)
    assert await edit(engine, saying("8 going")) == 1
    assert await claim(engine) == []
    await mark_sent(engine, [sending])
    assert summary(await claim(engine)) == [("edit", "-1001", f"m{sending.id}", "8 going")]


async def test_an_edit_of_a_post_that_never_went_out_comes_back_unsent(
    engine: AsyncEngine,
) -> None:
    await enqueue(engine, "-1001")
    (sending,) = await claim(engine)
    await edit(engine, saying("8 going"))
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.mark_dead(session, sending, error="bot was kicked")
    (claimed,) = await claim(engine)
    assert (claimed.operation, claimed.post_sent, claimed.message_id) == (
        DeliveryOperation.EDIT,
        False,
        None,
    )
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.mark_cancelled(session, [claimed])
        assert await outbox.pending_count(session) == 0


async def test_delete_cancels_posts_not_sent_and_queues_deletions_of_the_others(
    engine: AsyncEngine,
) -> None:
    await enqueue(engine, "-1001", "-1002")
    sent = await send_all(engine)
    await enqueue(engine, "-1003")  # not sent yet
    await edit(engine, saying("8 going"))  # -1003 in place, edits for the others
    assert await delete(engine) == 3
    assert await delete(engine) == 0  # asked twice, deleted once

    by_chat = {(r.chat_id, r.operation): r.status for r in await rows(engine)}
    assert by_chat == {
        ("-1001", DeliveryOperation.SEND): DeliveryStatus.SENT,
        ("-1002", DeliveryOperation.SEND): DeliveryStatus.SENT,
        ("-1003", DeliveryOperation.SEND): DeliveryStatus.CANCELLED,
        ("-1001", DeliveryOperation.EDIT): DeliveryStatus.CANCELLED,
        ("-1002", DeliveryOperation.EDIT): DeliveryStatus.CANCELLED,
        ("-1001", DeliveryOperation.DELETE): DeliveryStatus.PENDING,
        ("-1002", DeliveryOperation.DELETE): DeliveryStatus.PENDING,
    }
    assert summary(await claim(engine)) == [
        ("delete", chat, f"m{p.id}", "") for chat, p in zip(("-1001", "-1002"), sent, strict=True)
    ]
    assert await edit(engine, saying("9 going")) == 0  # a deleted post is not edited


async def test_an_edit_in_flight_when_its_post_is_deleted_changes_nothing(
    engine: AsyncEngine,
) -> None:
    await enqueue(engine, "-1001")
    await send_all(engine)
    await edit(engine, saying("8 going"))
    (in_flight,) = await claim(engine)
    await delete(engine)
    await mark_sent(engine, [in_flight])  # its late outcome
    statuses = [(r.operation, r.status) for r in await rows(engine)]
    assert statuses == [
        (DeliveryOperation.SEND, DeliveryStatus.SENT),
        (DeliveryOperation.EDIT, DeliveryStatus.CANCELLED),
        (DeliveryOperation.DELETE, DeliveryStatus.PENDING),
    ]


async def test_report_counts_edits_and_deletions_and_their_refusals(engine: AsyncEngine) -> None:
    await enqueue(engine, *CHATS)
    await send_all(engine)
    await edit(engine, saying("8 going"))
    first, second, third = await claim(engine)
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.mark_sent(session, [(first, first.message_id)], now=START)
        await outbox.mark_failed(
            session, second, error=outbox.NOT_ALLOWED + "telegram: message can't be edited"
        )
        await outbox.mark_retry(session, third, at=START, error="telegram: server error")
    await delete(engine)
    first, second, third = await claim(engine)
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.mark_sent(session, [(first, first.message_id)], now=START)
        await outbox.mark_failed(session, second, error=outbox.TOO_OLD + "older than 48 hours")
        await outbox.mark_failed(session, third, error="telegram: chat not found")
        report = await outbox.report(session, "event", 1)

    assert report.counts == {DeliveryStatus.SENT: 3}
    assert report.edits == {
        DeliveryStatus.SENT: 1,
        DeliveryStatus.FAILED: 1,
        DeliveryStatus.CANCELLED: 1,  # the one still waiting when the post was deleted
    }
    assert report.deletes == {DeliveryStatus.SENT: 1, DeliveryStatus.FAILED: 2}
    assert report.refused == {
        (DeliveryOperation.EDIT, Platform.TELEGRAM): 1,
        (DeliveryOperation.DELETE, Platform.TELEGRAM): 1,
    }
    assert [(p.operation, p.chat, p.error, p.refusal) for p in report.problems] == [
        (DeliveryOperation.DELETE, "-1003", "telegram: chat not found", None),
        (DeliveryOperation.DELETE, "-1002", "older than 48 hours", "too_old"),
        (DeliveryOperation.EDIT, "-1002", "telegram: message can't be edited", "not_allowed"),
    ]


async def test_concurrent_edits_leave_one_waiting_edit_per_post(engine: AsyncEngine) -> None:
    await enqueue(engine, *CHATS)
    await send_all(engine)

    async def one(n: int) -> int:
        async with create_sessionmaker(engine)() as session, session.begin():
            changed = await outbox.enqueue_edits(
                session, "event", 1, saying(f"{n} going"), now=START
            )
            await asyncio.sleep(0.05)  # hold the transaction while the others try
            return changed

    assert await asyncio.gather(*(one(n) for n in range(8, 13))) == [3] * 5
    edits = [r for r in await rows(engine) if r.operation is DeliveryOperation.EDIT]
    assert sorted(r.post_id for r in edits) == [1, 2, 3]
    assert {r.status for r in edits} == {DeliveryStatus.PENDING}
    assert len({r.payload["text"] for r in edits}) == 1  # the last one to commit


async def test_a_private_post_keeps_its_chat_kind(engine: AsyncEngine) -> None:
    dm = Envelope(
        key="event:1:dm",
        message=Outgoing(
            platform=Platform.SLACK,
            workspace="T1",
            chat_id="U42",
            chat_kind=ChatKind.PRIVATE,
            text="7 going",
        ),
        source="event",
        source_id=1,
        member_id=None,
    )
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.enqueue(session, [dm], now=START)
    await send_all(engine)
    seen: list[Posted] = []

    def render(posted: Posted) -> Outgoing:
        seen.append(posted)
        return saying("8 going")(posted)

    await edit(engine, render)
    (claimed,) = await claim(engine)
    assert seen[0].message.chat_kind is ChatKind.PRIVATE
    assert seen[0].status is DeliveryStatus.SENT
    assert (claimed.message.workspace, claimed.message.chat_kind) == ("T1", ChatKind.PRIVATE)

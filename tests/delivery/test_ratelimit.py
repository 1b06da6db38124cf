"""Tests for the GCRA rate limiter that paces the outbox."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from councilbot.delivery.ratelimit import BucketKey, Rate, RateLimiter


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


GLOBAL: BucketKey = ("telegram.global", "bot")


def chat(chat_id: str) -> BucketKey:
    return ("telegram.private", chat_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telegram(clock: FakeClock) -> RateLimiter:
    rules = {
        "telegram.global": Rate(30),
        "telegram.private": Rate(1),
        "telegram.group": Rate(20, per=60.0),
    }
    return RateLimiter(rules, clock=clock)


# --- Rate -----------------------------------------------------------------------------


def test_rate_interval() -> None:
    assert Rate(30).interval == pytest.approx(1 / 30)
    assert Rate(20, per=60.0).interval == pytest.approx(3.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": 0},
        {"count": -1},
        {"count": math.nan},
        {"count": 1, "per": 0},
        {"count": 1, "per": -1.0},
        {"count": 1, "burst": 0},
    ],
)
def test_rate_rejects_invalid(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Rate(**kwargs)  # type: ignore[arg-type]


# --- single bucket ----------------------------------------------------------------------


def test_exact_spacing_one_per_second(telegram: RateLimiter) -> None:
    delays = [telegram.reserve([chat("1")]) for _ in range(4)]
    assert delays == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_exact_spacing_over_many_reservations(clock: FakeClock) -> None:
    limiter = RateLimiter({"r": Rate(2000)}, clock=clock)
    delays = [limiter.reserve([("r", "k")]) for _ in range(10_000)]
    assert delays == pytest.approx([k * 0.0005 for k in range(10_000)], abs=1e-9)


def test_burst_first_reservations_are_immediate(clock: FakeClock) -> None:
    limiter = RateLimiter({"r": Rate(10, burst=5)}, clock=clock)
    delays = [limiter.reserve([("r", "k")]) for _ in range(8)]
    assert delays == pytest.approx([0, 0, 0, 0, 0, 0.1, 0.2, 0.3])


def test_group_rule_twenty_per_minute(telegram: RateLimiter) -> None:
    group = ("telegram.group", "-100123")
    delays = [telegram.reserve([group]) for _ in range(21)]
    assert delays[-1] == pytest.approx(60.0)


def test_clock_advancing_restores_capacity(clock: FakeClock) -> None:
    limiter = RateLimiter({"r": Rate(10, burst=3)}, clock=clock)
    key = ("r", "k")
    assert [limiter.reserve([key]) for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])
    clock.advance(0.2)  # one event left over from the backlog, one interval of slack
    assert limiter.delay([key]) == 0
    clock.advance(10)
    assert [limiter.reserve([key]) for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_reserve_leaves_a_slot_further_than_max_delay_untaken(telegram: RateLimiter) -> None:
    assert telegram.reserve([chat("1")]) == 0
    assert telegram.reserve([chat("1")], max_delay=0.5) == pytest.approx(1.0)  # not taken
    assert telegram.reserve([chat("1")], max_delay=1.0) == pytest.approx(1.0)  # taken now
    assert telegram.delay([chat("1")]) == pytest.approx(2.0)


def test_delay_does_not_reserve(telegram: RateLimiter) -> None:
    assert telegram.delay([chat("1")]) == 0
    assert telegram.delay([chat("1")]) == 0
    assert len(telegram) == 0
    assert telegram.reserve([chat("1")]) == 0
    assert telegram.delay([chat("1")]) == pytest.approx(1.0)
    assert telegram.delay([chat("1")]) == pytest.approx(1.0)
    assert telegram.reserve([chat("1")]) == pytest.approx(1.0)


def test_duplicate_keys_count_once(telegram: RateLimiter) -> None:
    assert telegram.reserve([chat("1"), chat("1")]) == 0
    assert telegram.reserve([chat("1")]) == pytest.approx(1.0)


def test_unknown_rule_raises_key_error(telegram: RateLimiter) -> None:
    with pytest.raises(KeyError):
        telegram.reserve([chat("1"), ("slack.channel", "C1")])
    with pytest.raises(KeyError):
        telegram.delay([("nope", "x")])
    with pytest.raises(KeyError):
        telegram.pause(("nope", "x"), 1.0)
    assert telegram.reserve([chat("1")]) == 0  # the failed call reserved nothing


# --- several buckets --------------------------------------------------------------------


def test_global_bucket_paces_many_chats(telegram: RateLimiter) -> None:
    delays = [telegram.reserve([GLOBAL, chat(str(i))]) for i in range(60)]
    assert delays == pytest.approx([i / 30 for i in range(60)])
    # 60 messages fill two seconds: the next one goes out at t=2.
    assert telegram.reserve([GLOBAL, chat("new")]) == pytest.approx(2.0)


def test_chat_bucket_paces_same_chat(telegram: RateLimiter) -> None:
    delays = [telegram.reserve([GLOBAL, chat("1")]) for _ in range(3)]
    assert delays == pytest.approx([0.0, 1.0, 2.0])
    # The global bucket was charged at each send time, so reservations stay in order:
    # a later message to another chat queues behind the one booked for t=2.
    assert telegram.delay([chat("2")]) == 0
    assert telegram.reserve([GLOBAL, chat("2")]) == pytest.approx(2.0 + 1 / 30)


def test_reservation_advances_every_bucket_to_the_common_time(telegram: RateLimiter) -> None:
    assert telegram.reserve([chat("1")]) == 0
    # Chat 1 holds this event back to t=1; the global bucket is charged at t=1 too.
    assert telegram.reserve([GLOBAL, chat("1")]) == pytest.approx(1.0)
    assert telegram.delay([GLOBAL]) == pytest.approx(1.0 + 1 / 30)


# --- pause --------------------------------------------------------------------------------


def test_pause_is_honoured(telegram: RateLimiter, clock: FakeClock) -> None:
    telegram.pause(chat("1"), 5.0)
    assert telegram.delay([chat("1")]) == pytest.approx(5.0)
    assert telegram.delay([GLOBAL, chat("2")]) == 0
    assert telegram.reserve([GLOBAL, chat("1")]) == pytest.approx(5.0)
    assert telegram.reserve([chat("1")]) == pytest.approx(6.0)
    clock.advance(5.0)
    assert telegram.delay([chat("1")]) == pytest.approx(2.0)


def test_pause_never_shortens(telegram: RateLimiter) -> None:
    telegram.pause(chat("1"), 5.0)
    telegram.pause(chat("1"), 2.0)
    assert telegram.delay([chat("1")]) == pytest.approx(5.0)
    for _ in range(10):
        telegram.reserve([chat("1")])
    telegram.pause(chat("1"), 1.0)  # the backlog already reaches past t=15
    assert telegram.reserve([chat("1")]) == pytest.approx(15.0)


def test_pause_drains_burst(clock: FakeClock) -> None:
    limiter = RateLimiter({"r": Rate(1, burst=3)}, clock=clock)
    limiter.pause(("r", "k"), 2.0)
    delays = [limiter.reserve([("r", "k")]) for _ in range(3)]
    assert delays == pytest.approx([2.0, 3.0, 4.0])


# --- memory -------------------------------------------------------------------------------


def test_idle_buckets_are_pruned(telegram: RateLimiter, clock: FakeClock) -> None:
    for i in range(10_000):
        telegram.reserve([chat(str(i))])
    assert len(telegram) == 10_000
    clock.advance(10.0)
    for _ in range(3_000):
        telegram.reserve([chat("busy")])
    assert len(telegram) <= 10


def test_pruning_keeps_busy_buckets(telegram: RateLimiter, clock: FakeClock) -> None:
    telegram.pause(chat("slow"), 3600.0)
    for i in range(100):
        telegram.reserve([chat(str(i))])
    clock.advance(10.0)
    for i in range(100):
        telegram.reserve([chat(f"again-{i}")])
    assert telegram.delay([chat("slow")]) == pytest.approx(3590.0)


# --- property -----------------------------------------------------------------------------

rates = st.builds(
    Rate,
    count=st.integers(min_value=1, max_value=20),
    per=st.sampled_from([0.25, 1.0, 3.0, 60.0]),
    burst=st.integers(min_value=1, max_value=5),
)
operations = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
        st.sets(st.sampled_from("abcde"), min_size=1, max_size=2),
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(rate_a=rates, rate_b=rates, ops=operations)
def test_no_bucket_ever_exceeds_its_rate(
    rate_a: Rate, rate_b: Rate, ops: list[tuple[float, set[str]]]
) -> None:
    rules = {"a": rate_a, "b": rate_b}
    clock = FakeClock()
    limiter = RateLimiter(rules, clock=clock)
    keys: dict[str, list[BucketKey]] = {
        "a": [("a", "1")],
        "b": [("b", "1")],
        # Overlapping pairs, so one bucket's backlog pushes events in another.
        "c": [("a", "2"), ("b", "2")],
        "d": [("a", "1"), ("b", "2")],
        "e": [("a", "2"), ("b", "1")],
    }
    times: defaultdict[BucketKey, list[float]] = defaultdict(list)
    for dt, chosen in ops:
        clock.advance(dt)
        batch = list(dict.fromkeys(key for name in sorted(chosen) for key in keys[name]))
        at = clock.now + limiter.reserve(batch)
        assert at >= clock.now
        for key in batch:
            times[key].append(at)
    for key, booked in times.items():
        rate = rules[key[0]]
        # A burst may book an event before one booked earlier for a later moment.
        events = sorted(booked)
        limit = rate.count + rate.burst - 1
        for i, start in enumerate(events):
            in_window = sum(1 for t in events[i:] if t - start < rate.per - 1e-9)
            assert in_window <= limit, (key, rate, events)

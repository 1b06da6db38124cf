"""Pace outgoing messages against several platform rate limits at once.

Each (rule, key) pair is a bucket run by the generic cell rate algorithm
(GCRA): a bucket only remembers its theoretical arrival time (TAT), so
reservations made ahead of time are exact and an idle bucket carries no state
worth keeping. The dispatcher reserves a message against every bucket it
counts towards (e.g. the bot overall plus the chat) and sleeps for the
returned delay.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

BucketKey = tuple[str, str]

# Buckets inspected for idleness per reserve()/pause(): a constant, so pruning is
# amortised O(1) and every stale bucket is revisited within len/_SWEEP calls.
_SWEEP = 4


@dataclass(frozen=True, slots=True)
class Rate:
    """Allow `count` events per `per` seconds, with bursts of up to `burst` back to back."""

    count: float
    per: float = 1.0
    burst: int = 1

    def __post_init__(self) -> None:
        # `not x > 0` also rejects NaN.
        if not self.count > 0:
            raise ValueError(f"count must be positive, got {self.count!r}")
        if not self.per > 0:
            raise ValueError(f"per must be positive, got {self.per!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")

    @property
    def interval(self) -> float:
        """Return the seconds between two events at the sustained rate."""
        return self.per / self.count

    @property
    def tolerance(self) -> float:
        """Return how far ahead of its TAT a bucket may be and still admit an event."""
        return (self.burst - 1) * self.interval


class RateLimiter:
    """Pace events across several named rate rules, one bucket per (rule, key)."""

    def __init__(
        self, rules: Mapping[str, Rate], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create a limiter for `rules`, reading time from `clock`."""
        self._rules = dict(rules)
        self._clock = clock
        # Least recently touched first, so the sweep meets likely idle buckets early.
        self._tats: OrderedDict[BucketKey, float] = OrderedDict()

    def __len__(self) -> int:
        """Return the number of buckets currently holding state."""
        return len(self._tats)

    def delay(self, keys: Iterable[BucketKey]) -> float:
        """Return the seconds until every bucket in `keys` allows one event; reserve nothing."""
        now = self._clock()
        return self._earliest(dict.fromkeys(keys), now) - now

    def reserve(self, keys: Iterable[BucketKey], *, max_delay: float = math.inf) -> float:
        """Reserve one event in every bucket at the earliest common moment; return its delay.

        When that moment is more than `max_delay` away, reserve nothing and return the delay.
        """
        now = self._clock()
        unique = dict.fromkeys(keys)  # a key listed twice is still one event in its bucket
        at = self._earliest(unique, now)
        if at - now > max_delay:
            return at - now
        for key in unique:
            tat = self._tats.get(key, at)
            self._store(key, max(tat, at) + self._rules[key[0]].interval)
        self._sweep(now)
        return at - now

    def pause(self, key: BucketKey, seconds: float) -> None:
        """Admit no event in bucket `key` before `seconds` from now; never shorten a wait."""
        rate = self._rules[key[0]]
        now = self._clock()
        # Pushing the TAT (not just a start time) also drains the burst, so we do
        # not fire a volley at the platform the moment its retry_after ends.
        tat = max(self._tats.get(key, now), now + seconds + rate.tolerance)
        self._store(key, tat)
        self._sweep(now)

    def _earliest(self, keys: Iterable[BucketKey], now: float) -> float:
        at = now
        for key in keys:
            rate = self._rules[key[0]]  # KeyError for an unknown rule, before anything changes
            tat = self._tats.get(key)
            if tat is not None:
                at = max(at, tat - rate.tolerance)
        return at

    def _store(self, key: BucketKey, tat: float) -> None:
        self._tats[key] = tat
        self._tats.move_to_end(key)

    def _sweep(self, now: float) -> None:
        # A bucket whose TAT has passed behaves exactly like a fresh one, so dropping
        # it changes no answer; busy ones are rotated to the back to be seen later.
        for _ in range(min(_SWEEP, len(self._tats))):
            key, tat = self._tats.popitem(last=False)
            if tat > now:
                self._tats[key] = tat

"""Per-user token buckets: one user cannot crowd out everyone else (pure logic, clock injected).

Each user may send ``burst`` updates at once, then ``rate_per_minute`` (an update may cost less than
one: the bot counts a tap on its own buttons as a fraction of a file or a message). An update over the limit is
dropped; the first drop of a flood episode says ``WARN`` (the bot tells the user once), the rest
``DROP``. The episode ends when the user's bucket has filled up again (they were quiet for
``burst / rate`` seconds).

The map of buckets is bounded: a bucket that has filled up again is the same as a new one, so idle
users are forgotten (checked from the least recently seen, amortised O(1)), and beyond
``max_users`` the least recently seen user is forgotten too.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


class Verdict(enum.Enum):
    PASS = "pass"  # within the limit: handle the update
    WARN = "warn"  # the first update dropped in this flood episode: tell the user, then drop it
    DROP = "drop"  # dropped silently (the user was told already)


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    warned: bool = False


class RateLimiter:
    def __init__(
        self,
        rate_per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1 or max_users < 1:
            raise ValueError("rate_per_minute must be > 0, burst and max_users >= 1")
        self.rate = rate_per_minute / 60.0  # tokens per second
        self.burst = burst
        self.refill_seconds = burst / self.rate  # an empty bucket is full again after this long
        self.max_users = max_users
        self.clock = clock
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: Hashable, cost: float = 1.0) -> Verdict:
        """Count one update of ``key`` (worth ``cost`` tokens, at most ``burst``) and say whether to handle it."""
        now = self.clock()
        self._forget_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= self.burst:
                bucket.warned = False  # quiet long enough: a new episode
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_users:
            self._buckets.popitem(last=False)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Verdict.PASS
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.stamp < self.refill_seconds:
                return  # every later bucket was seen more recently still
            del self._buckets[key]

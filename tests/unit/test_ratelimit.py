"""The per-user token bucket, on a fake clock."""

from __future__ import annotations

import pytest

from dermvqa.ratelimit import RateLimiter, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_warning_then_silent_drops():
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)
    verdicts = [limiter.check("flooder") for _ in range(8)]
    assert verdicts == [Verdict.PASS] * 3 + [Verdict.WARN] + [Verdict.DROP] * 4


def test_cheaper_updates_take_a_fraction_of_a_token():
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)
    taps = [limiter.check("patient", 0.25) for _ in range(12)]
    assert taps == [Verdict.PASS] * 12  # twelve taps are worth three messages
    assert limiter.check("patient", 0.25) is Verdict.WARN
    clock.now += 1.0  # one token back: four more taps, or one message
    assert limiter.check("patient") is Verdict.PASS
    assert limiter.check("patient", 0.25) is Verdict.DROP


def test_tokens_come_back_at_the_rate_without_a_second_warning_while_flooding():
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)  # one token a second
    for _ in range(4):
        limiter.check(1)
    clock.now += 1.0
    assert limiter.check(1) is Verdict.PASS
    assert limiter.check(1) is Verdict.DROP  # same flood episode: no second warning
    clock.now += 0.5
    assert limiter.check(1) is Verdict.DROP


def test_a_new_episode_after_a_quiet_spell_warns_again():
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)
    assert [limiter.check(1) for _ in range(4)][-1] is Verdict.WARN
    clock.now += 3.0  # full again
    assert [limiter.check(1) for _ in range(4)] == [Verdict.PASS] * 3 + [Verdict.WARN]


def test_users_do_not_share_buckets():
    limiter = RateLimiter(rate_per_minute=1, burst=2, clock=Clock())
    assert [limiter.check("a") for _ in range(3)][-1] is Verdict.WARN
    assert [limiter.check("b") for _ in range(2)] == [Verdict.PASS, Verdict.PASS]


def test_idle_users_are_forgotten_and_the_map_is_bounded():
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=10, clock=clock, max_users=100)  # full after 10 s
    for user in range(50):
        limiter.check(user)
    assert len(limiter) == 50
    clock.now += 5.0
    limiter.check("late")
    assert len(limiter) == 51  # nobody is full again yet
    clock.now += 5.0
    limiter.check("later")
    assert len(limiter) == 2  # the first 50 were idle long enough: as good as new, forgotten
    for user in range(1000):
        limiter.check(user)
    assert len(limiter) == 100  # never more than max_users


def test_a_forgotten_user_is_not_advantaged():
    """Forgetting happens only once a bucket is full again, so it never hands out extra tokens."""
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=2, clock=clock)
    assert [limiter.check(1) for _ in range(3)] == [Verdict.PASS, Verdict.PASS, Verdict.WARN]
    clock.now += 1.0
    limiter.check(2)  # would forget user 1 only if its bucket were full
    assert len(limiter) == 2
    assert [limiter.check(1) for _ in range(2)] == [Verdict.PASS, Verdict.DROP]


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        RateLimiter(rate_per_minute=0, burst=5)
    with pytest.raises(ValueError):
        RateLimiter(rate_per_minute=10, burst=0)

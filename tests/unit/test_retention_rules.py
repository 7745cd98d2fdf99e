"""The retention rules with plain values and a fixed clock: what is due, per state and category."""

from __future__ import annotations

import datetime as dt

import pytest

from dermvqa.config import RetentionConfig
from dermvqa.retention import cutoff, cutoffs, is_due
from dermvqa.states import CaseState

NOW = dt.datetime(2026, 6, 1, 3, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def test_cutoff_is_now_minus_the_days_and_zero_keeps_forever():
    assert cutoff(NOW, 30) == NOW - 30 * DAY
    assert cutoff(NOW, 0) is None
    with pytest.raises(ValueError):
        cutoff(NOW, -1)
    with pytest.raises(ValueError):
        cutoff(NOW.replace(tzinfo=None), 30)


def test_due_only_strictly_before_the_cutoff():
    limit = cutoff(NOW, 30)
    assert is_due(limit - SECOND, limit)
    assert not is_due(limit, limit)
    assert not is_due(limit + SECOND, limit)
    assert not is_due(None, limit)
    assert not is_due(NOW - 10_000 * DAY, None)  # kept forever


def test_default_cutoffs_per_category():
    limits = cutoffs(NOW, RetentionConfig())
    assert limits.cases == {
        CaseState.ANSWERED: NOW - 365 * DAY,
        CaseState.REJECTED: NOW - 365 * DAY,
        CaseState.WITHDRAWN: NOW - 30 * DAY,
        CaseState.FAILED: NOW - 90 * DAY,
    }
    assert (limits.outbox, limits.message_log, limits.audit) == (NOW - 7 * DAY, NOW - 30 * DAY, NOW - 3650 * DAY)
    assert not limits.nothing


def test_all_zero_purges_nothing():
    config = RetentionConfig(
        answered_days=0,
        rejected_days=0,
        withdrawn_days=0,
        failed_days=0,
        outbox_days=0,
        message_log_days=0,
        audit_days=0,
    )
    limits = cutoffs(NOW, config)
    assert limits.nothing
    assert all(limit is None for limit in limits.cases.values())

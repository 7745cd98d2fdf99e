"""The retention rules with plain values and a fixed clock: what is due, per state and category."""

from __future__ import annotations

import datetime as dt

import pytest

from dermvqa.config import RetentionConfig
from dermvqa.retention import PurgeReport, case_is_due, case_reached_at, cutoff, cutoffs, is_due
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
    old = {"answered_at": NOW - 5000 * DAY, "reviewed_at": NOW - 5000 * DAY, "updated_at": NOW - 5000 * DAY}
    assert not any(case_is_due(state, old, limits) for state in CaseState)


def test_each_final_state_is_aged_by_the_moment_it_was_reached():
    values = {
        "answered_at": NOW - 400 * DAY,
        "reviewed_at": NOW - 380 * DAY,
        "updated_at": NOW - 10 * DAY,  # touched recently: does not matter for answered or rejected
    }
    assert case_reached_at(CaseState.ANSWERED, values) == NOW - 400 * DAY
    assert case_reached_at(CaseState.REJECTED, values) == NOW - 380 * DAY
    assert case_reached_at(CaseState.WITHDRAWN, values) == NOW - 10 * DAY
    assert case_reached_at(CaseState.FAILED, values) == NOW - 10 * DAY
    # A missing column falls back to updated_at.
    assert case_reached_at("answered", {"answered_at": None, "updated_at": NOW - DAY}) == NOW - DAY


@pytest.mark.parametrize(
    ("state", "column", "days"),
    [
        ("answered", "answered_at", 365),
        ("rejected", "reviewed_at", 365),
        ("withdrawn", "updated_at", 30),
        ("failed", "updated_at", 90),
    ],
)
def test_final_states_are_due_just_past_their_age(state, column, days):
    limits = cutoffs(NOW, RetentionConfig())
    assert case_is_due(state, {column: NOW - days * DAY - SECOND, "updated_at": NOW - days * DAY - SECOND}, limits)
    assert not case_is_due(state, {column: NOW - days * DAY + SECOND, "updated_at": NOW}, limits)


@pytest.mark.parametrize("state", ["collecting", "queued", "drafting", "awaiting_review", "approved"])
def test_cases_in_progress_are_never_due(state):
    limits = cutoffs(NOW, RetentionConfig(answered_days=1, rejected_days=1, withdrawn_days=1, failed_days=1))
    ancient = {"answered_at": NOW - 9999 * DAY, "reviewed_at": NOW - 9999 * DAY, "updated_at": NOW - 9999 * DAY}
    assert case_reached_at(state, ancient) is None
    assert not case_is_due(state, ancient, limits)


def test_the_report_is_counts_only_and_round_trips():
    report = PurgeReport(photos=3, outbox=2, started_at="2026-06-01T03:30:00+00:00")
    report.add_cases("answered", 2)
    report.add_cases(CaseState.FAILED, 1)
    assert report.cases == 3
    data = report.to_json()
    assert all(isinstance(v, int | float | bool | str) for v in data.values())
    assert PurgeReport.from_json({**data, "unknown_later_field": 1}) == report
    assert "cases 3 (answered 2, rejected 0, withdrawn 0, failed 1" in report.summary()

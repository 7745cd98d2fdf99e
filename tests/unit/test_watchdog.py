"""The watchdog's pure rules, with plain values and a fake clock."""

from __future__ import annotations

import datetime as dt

from bot.rendering import queue_text, stats_text, waited, watchdog_alert_text
from dermvqa.casework import watchdog
from dermvqa.casework.review import QueueItem, Stats
from dermvqa.casework.watchdog import CaseAge, FailedDelivery
from dermvqa.states import CaseState

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_only_watched_states_older_than_the_limit_are_stuck():
    cases = [
        CaseAge(1, CaseState.QUEUED, at(0)),
        CaseAge(2, CaseState.AWAITING_REVIEW, at(30)),  # 60 min at now: not longer than the limit
        CaseAge(3, CaseState.DRAFTING, at(-10)),
        CaseAge(4, CaseState.APPROVED, at(-5)),
        CaseAge(5, CaseState.ANSWERED, at(-100)),  # final
        CaseAge(6, CaseState.COLLECTING, at(-100)),  # the patient's turn
        CaseAge(7, CaseState.FAILED, at(-100)),  # reported by its own notice
        CaseAge(8, CaseState.REJECTED, at(-100)),
        CaseAge(9, CaseState.WITHDRAWN, at(-100)),
    ]
    late = watchdog.stuck(cases, now=at(90), after=HOUR)
    assert [c.case_id for c in late] == [3, 4, 1]  # longest waiting first


def test_each_report_is_made_once_and_a_new_stall_is_a_new_report():
    case = CaseAge(1, CaseState.QUEUED, at(0))
    first = watchdog.alerts([case], [], at(61), HOUR, reported=set())
    assert [(a.kind, a.case_id) for a in first] == [(watchdog.CASE_STUCK, 1)]
    assert first[0].payload == {"case_id": 1, "state": "queued", "since": at(0).isoformat(), "minutes": 61}
    # a minute later, and an hour later: already reported
    assert watchdog.alerts([case], [], at(62), HOUR, reported={first[0].key}) == []
    assert watchdog.alerts([case], [], at(600), HOUR, reported={first[0].key}) == []
    # the case moved on and stalled again in another state: a new report
    moved = CaseAge(1, CaseState.AWAITING_REVIEW, at(100))
    again = watchdog.alerts([moved], [], at(200), HOUR, reported={first[0].key})
    assert len(again) == 1 and again[0].key != first[0].key


def test_failed_messages_are_reported_once_but_failed_alerts_never():
    failed = [
        FailedDelivery(10, "answer", 4, "Forbidden: bot was blocked by the user"),
        FailedDelivery(11, watchdog.DELIVERY_FAILED, None, "Forbidden: bot was kicked"),
        FailedDelivery(12, watchdog.CASE_STUCK, 5, "Forbidden: bot was kicked"),
    ]
    out = watchdog.alerts([], failed, at(0), HOUR, reported=set())
    assert [(a.kind, a.payload["row_id"], a.case_id) for a in out] == [(watchdog.DELIVERY_FAILED, 10, 4)]
    assert watchdog.alerts([], failed, at(5), HOUR, reported={out[0].key}) == []
    assert watchdog.candidate_keys([], failed, at(0), HOUR) == [out[0].key]


def test_attention_counts_stuck_cases_and_failed_messages():
    cases = [CaseAge(1, CaseState.QUEUED, at(0)), CaseAge(2, CaseState.QUEUED, at(80))]
    failed = [
        FailedDelivery(10, "answer", 4, "x"),
        FailedDelivery(11, "answer", 4, "y"),
        FailedDelivery(12, "review_request", None, ""),
    ]
    seen = watchdog.attention(cases, failed, at(90), HOUR)
    assert [c.case_id for c in seen.stuck] == [1]
    assert (seen.failed, seen.failed_cases) == (3, (4,))


def test_texts_carry_numbers_states_and_durations_only():
    stuck = watchdog.alerts([CaseAge(7, CaseState.AWAITING_REVIEW, at(0))], [], at(135), HOUR, set())[0]
    text = watchdog_alert_text(stuck.kind, stuck.payload)
    assert "Case #7" in text and "awaiting review" in text and "2 h 15 min" in text and "/case 7" in text
    blocked = FailedDelivery(3, "answer", 7, "Forbidden: bot was blocked by the user")
    failed = watchdog.alerts([], [blocked], at(0), HOUR, set())
    text = watchdog_alert_text(failed[0].kind, failed[0].payload)
    assert "answer" in text and "case #7" in text and "blocked" in text
    assert waited(0) == "less than a minute" and waited(45) == "45 min"


def test_queue_and_stats_show_what_waits_too_long_and_what_failed():
    seen = watchdog.attention(
        [CaseAge(1, CaseState.QUEUED, at(0))], [FailedDelivery(10, "answer", 4, "x")], at(90), HOUR
    )
    items = [QueueItem(1, CaseState.QUEUED, False, at(0)), QueueItem(2, CaseState.QUEUED, False, at(80))]
    text = queue_text(items, seen)
    assert "#1 queued since 2026-01-05 09:00 (waiting too long)" in text
    assert "#2 queued since 2026-01-05 10:20 —" in text
    assert "Waiting longer than the alert limit: 1: #1 (queued)" in text
    assert "Messages failed for good: 1 (cases #4)" in text
    assert "Messages failed for good" in queue_text([], seen)
    stats = Stats({"queued": 2}, 0, None, None, 0, attention=seen)
    assert "Messages failed for good: 1 (cases #4)" in stats_text(stats)
    calm = Stats({}, 0, None, None, 0, attention=watchdog.attention([], [], at(0), HOUR))
    assert "Nothing waits longer than the alert limit" in stats_text(calm)
    assert "alert limit" not in stats_text(Stats({}, 0, None, None, 0))

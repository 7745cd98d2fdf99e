"""The watchdog's queries on a real database: what waits too long, what failed, reported once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from support.cases import submit

from dermvqa.casework import kinds, review
from dermvqa.casework.alerts import failed_deliveries, load_attention, raise_alerts, waiting_cases
from dermvqa.states import CaseState
from dermvqa.storage.cases import transition
from dermvqa.storage.models import Case, OutboxMessage, utcnow
from dermvqa.storage.outbox import add_message

HOUR = dt.timedelta(hours=1)


def alerts(db) -> list[OutboxMessage]:
    with db.read() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.like("watchdog:%")).order_by(OutboxMessage.id)
        ).all()
        return [(r.kind, r.case_id, r.chat_id, dict(r.payload)) for r in rows]


def failed_row(db, kind: str, case_id: int | None, chat_id: int | None = 42) -> int:
    with db.write() as session:
        row = add_message(session, kind, chat_id=chat_id, case_id=case_id, payload={"case_id": case_id})
        row.state, row.last_error = "failed", "Forbidden: bot was blocked by the user"
        return row.id


def test_a_case_waiting_too_long_is_reported_once(any_db, store):
    db = any_db
    case_id = submit(db, store, 101)  # queued, and no worker
    now = utcnow()
    assert raise_alerts(db, now, HOUR) == 0  # not yet late
    later = now + 2 * HOUR
    with db.read() as session:
        assert [(c.case_id, c.state) for c in waiting_cases(session, later, HOUR)] == [(case_id, CaseState.QUEUED)]
    assert raise_alerts(db, later, HOUR) == 1
    assert raise_alerts(db, later + HOUR, HOUR) == 0  # remembered in the database: not again
    ((kind, alert_case, chat, payload),) = alerts(db)
    assert (kind, alert_case, chat) == (kinds.CASE_STUCK, case_id, None)  # for the clinicians: fanned out
    assert payload["state"] == "queued" and payload["minutes"] >= 120
    assert set(payload) == {"case_id", "state", "since", "minutes"}  # no patient words


def test_a_state_change_restarts_the_clock_and_a_new_stall_is_reported_again(any_db, store):
    db = any_db
    case_id = submit(db, store, 102)
    later = utcnow() + 2 * HOUR
    assert raise_alerts(db, later, HOUR) == 1
    with db.write() as session:
        assert transition(session, case_id, CaseState.DRAFTING)
    with db.read() as session:
        since = session.scalar(select(Case.updated_at).where(Case.id == case_id))
    assert utcnow() - since < dt.timedelta(minutes=1)  # the transition stamped updated_at
    assert raise_alerts(db, utcnow() + HOUR / 2, HOUR) == 0  # drafting for half an hour: fine
    assert raise_alerts(db, utcnow() + 3 * HOUR, HOUR) == 1
    assert [p["state"] for _, _, _, p in alerts(db)] == ["queued", "drafting"]


def test_a_failed_message_is_reported_once_and_a_failed_alert_never(any_db, store):
    db = any_db
    case_id = submit(db, store, 103)
    row_id = failed_row(db, kinds.ANSWER, case_id)
    failed_row(db, kinds.DELIVERY_FAILED, None)  # an alert that failed itself: reporting it would loop
    with db.read() as session:
        assert [r.row_id for r in failed_deliveries(session, unreported_only=True)] == [row_id]
    assert raise_alerts(db, utcnow(), HOUR) == 1
    with db.read() as session:
        assert failed_deliveries(session, unreported_only=True) == []
        assert [r.row_id for r in failed_deliveries(session)] == [row_id]
    assert raise_alerts(db, utcnow(), HOUR) == 0
    ((kind, alert_case, _, payload),) = alerts(db)
    assert (kind, alert_case, payload["row_id"], payload["kind"]) == (kinds.DELIVERY_FAILED, case_id, row_id, "answer")


def test_queue_and_stats_see_what_waits_and_what_failed(any_db, store):
    db = any_db
    waiting = submit(db, store, 104)
    other = submit(db, store, 105)
    failed_row(db, kinds.ANSWER, other)
    failed_row(db, kinds.REVIEW_UPDATE, None)
    later = utcnow() + 2 * HOUR
    seen = load_attention(db, later, HOUR)
    assert {c.case_id for c in seen.stuck} == {waiting, other}
    assert (seen.failed, seen.failed_cases) == (2, (other,))
    assert load_attention(db, utcnow(), HOUR).stuck == ()
    numbers = review.stats(db, alert_after=HOUR, now=later)
    assert numbers.attention == seen
    assert review.stats(db).attention is None

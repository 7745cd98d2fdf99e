"""The watchdog's transactions: read what waits too long or failed, and queue each report once.

The rules are in :mod:`dermvqa.casework.watchdog`. A report is an outbox row for the clinicians
(no chat: the sender copies it to each review recipient) whose ``dedupe_key`` is the report's key,
so what was reported is remembered durably without a table of its own, and writing a report twice
is a no-op even if two bots ran the watchdog at once.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import String, cast, exists, select
from sqlalchemy.orm import Session, aliased

from dermvqa.casework import watchdog
from dermvqa.casework.watchdog import Attention, CaseAge, FailedDelivery
from dermvqa.states import CaseState
from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, OutboxMessage
from dermvqa.storage.outbox import add_message

logger = logging.getLogger(__name__)

FAILED = "failed"


def waiting_cases(session: Session, now: dt.datetime, after: dt.timedelta) -> list[CaseAge]:
    """Cases in a watched state whose last change is older than ``after``."""
    rows = session.execute(
        select(Case.id, Case.state, Case.updated_at).where(
            Case.state.in_([s.value for s in watchdog.WATCHED_STATES]), Case.updated_at < now - after
        )
    ).all()
    return [CaseAge(case_id, CaseState(state), since) for case_id, state, since in rows]


def failed_deliveries(session: Session, *, unreported_only: bool = False) -> list[FailedDelivery]:
    """Outbox rows that failed for good (alerts excepted); with ``unreported_only``, those not reported yet."""
    query = select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.case_id, OutboxMessage.last_error).where(
        OutboxMessage.state == FAILED, OutboxMessage.kind.not_in(list(watchdog.ALERT_KINDS))
    )
    if unreported_only:
        report = aliased(OutboxMessage)
        key = "watchdog:failed:" + cast(OutboxMessage.id, String)
        query = query.where(~exists().where(report.dedupe_key == key))
    rows = session.execute(query.order_by(OutboxMessage.id)).all()
    return [FailedDelivery(row_id, kind, case_id, error or "") for row_id, kind, case_id, error in rows]


def reported(session: Session, keys: list[str]) -> set[str]:
    """Which of ``keys`` were already reported."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(chunk))))
    return found


def raise_alerts(db: Database, now: dt.datetime, after: dt.timedelta, limit: int = 20) -> int:
    """Queue a report for each case waiting too long and each failed message not reported yet.

    At most ``limit`` per call (the rest come on the next tick, so a backlog does not flood the
    chat at once). Returns how many were queued.
    """
    with db.read() as session:
        cases = waiting_cases(session, now, after)
        failed = failed_deliveries(session, unreported_only=True)
        if not cases and not failed:
            return 0
        known = reported(session, watchdog.candidate_keys(cases, failed, now, after))
    due = watchdog.alerts(cases, failed, now, after, known)[:limit]
    if not due:
        return 0
    queued = 0
    with db.write() as session:
        for alert in due:
            if add_message(session, alert.kind, case_id=alert.case_id, payload=alert.payload, dedupe_key=alert.key):
                queued += 1
    if queued:
        logger.warning("watchdog: %d new alert(s) for the clinicians", queued)
    return queued


def load_attention(db: Database, now: dt.datetime, after: dt.timedelta) -> Attention:
    """Cases waiting too long and messages failed for good, for /queue and /stats."""
    with db.read() as session:
        return watchdog.attention(waiting_cases(session, now, after), failed_deliveries(session), now, after)

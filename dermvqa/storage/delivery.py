"""Delivery bookkeeping for the outbox: what is due, fan-out to clinicians, progress, outcome.

The bot's sender calls these; each is one short transaction. A row's rendered parts are frozen on
first delivery and its progress saved after every part, so a retry resends only what is missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from dermvqa.states import CaseState
from dermvqa.storage.cases import transition
from dermvqa.storage.database import Database
from dermvqa.storage.models import OutboxMessage, utcnow
from dermvqa.storage.outbox import add_message

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    chat_id: int | None
    case_id: int | None
    payload: dict[str, Any]
    attempts: int
    progress: int
    message_ids: tuple[int, ...]


def _view(row: OutboxMessage) -> OutboxRow:
    return OutboxRow(
        row.id,
        row.kind,
        row.chat_id,
        row.case_id,
        dict(row.payload or {}),
        row.attempts,
        row.progress,
        tuple(row.telegram_message_ids or ()),
    )


def due(db: Database, now: dt.datetime, limit: int = 200) -> list[OutboxRow]:
    """Pending rows whose time has come, oldest first."""
    with db.read() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        return [_view(r) for r in rows]


def fan_out(db: Database, row_id: int, recipients: list[int]) -> int:
    """Copy a clinicians' row (no chat) to each recipient chat, then close the original."""
    with db.write() as session:
        row = session.get(OutboxMessage, row_id)
        if row is None or row.state != PENDING:
            return 0
        if not recipients:
            row.state, row.last_error = FAILED, "no review recipients: set [review] chat_id or clinician_ids"
            return 0
        for chat_id in recipients:
            add_message(
                session,
                row.kind,
                chat_id=chat_id,
                case_id=row.case_id,
                payload=dict(row.payload or {}),
                dedupe_key=f"fanout:{row.id}:{chat_id}",
            )
        row.state, row.sent_at = SENT, utcnow()
        return len(recipients)


def save_parts(db: Database, row_id: int, parts: list[dict[str, Any]]) -> None:
    """Freeze the rendered parts, so a retry sends exactly the same thing."""
    with db.write() as session:
        row = session.get(OutboxMessage, row_id)
        if row is not None:
            row.payload = {**(row.payload or {}), "parts": parts}


def record_progress(db: Database, row_id: int, progress: int, message_ids: list[int]) -> None:
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(progress=progress, telegram_message_ids=message_ids)
        )


def mark_sent(db: Database, row: OutboxRow, now: dt.datetime) -> None:
    """Close a delivered row; a delivered answer makes its case ``answered`` in the same transaction."""
    with db.write() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(state=SENT, sent_at=now))
        if row.kind == "answer" and row.case_id is not None:
            transition(session, row.case_id, CaseState.ANSWERED, expected=[CaseState.APPROVED], answered_at=now)


def mark_retry(
    db: Database,
    row_id: int,
    error: str,
    delay_seconds: float,
    *,
    count_attempt: bool,
    max_attempts: int,
    now: dt.datetime,
) -> bool:
    """Try again later; returns False when the row ran out of attempts and is now failed."""
    with db.write() as session:
        row = session.get(OutboxMessage, row_id)
        if row is None:
            return False
        row.attempts += int(count_attempt)
        row.last_error = error[:500]
        if row.attempts >= max_attempts:
            row.state = FAILED
            return False
        row.next_attempt_at = now + dt.timedelta(seconds=delay_seconds)
        return True


def mark_failed(db: Database, row_id: int, error: str) -> None:
    with db.write() as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(state=FAILED, last_error=error[:500])
        )

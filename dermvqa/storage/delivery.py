"""Delivery bookkeeping for the outbox: what is due, fan-out to clinicians, progress, outcome.

The bot's sender calls these; each is one short transaction. A row's rendered parts are frozen on
first delivery and its progress saved after every part, so a retry resends only what is missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from dermvqa.states import CaseState
from dermvqa.storage.cases import transition
from dermvqa.storage.conversation import record_outgoing
from dermvqa.storage.database import Database
from dermvqa.storage.models import OutboxMessage, utcnow
from dermvqa.storage.outbox import ANSWER, add_message

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


@dataclass
class RowOutcome:
    """What one delivery attempt of a row did: parts delivered, and how it ended."""

    row: OutboxRow
    parts: list[dict[str, Any]] = field(default_factory=list)
    progress: int = 0  # parts delivered in all, after this attempt
    message_ids: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)  # indexes of the parts delivered in this attempt
    done: bool = False  # every part delivered (or nothing was left to deliver)
    error: str | None = None
    retry_in: float | None = None  # None with an error: permanent failure
    count_attempt: bool = True


def record_outcomes(db: Database, outcomes: list[RowOutcome], *, max_attempts: int, now: dt.datetime) -> None:
    """Record a whole delivery pass in one transaction (the group commit that keeps the bot fast).

    Per row: its rendered parts (frozen, so a retry resends the same), its progress and message ids,
    the conversation record of each delivered part, and its end: sent, retry later, or failed. A
    delivered answer makes its case ``answered``. A crash before this commit makes the pass's
    deliveries be sent again: Telegram offers no idempotency key, so at-least-once is the best any
    sender can do, and the window is one pass (milliseconds).
    """
    if not outcomes:
        return
    with db.write() as session:
        for o in outcomes:
            row = session.get(OutboxMessage, o.row.id)
            if row is None:
                continue  # deleted meanwhile (the patient erased their data)
            if o.parts and "parts" not in (row.payload or {}):
                row.payload = {**(row.payload or {}), "parts": o.parts}
            row.progress = o.progress
            row.telegram_message_ids = o.message_ids
            for index in o.delivered:
                part = o.parts[index]
                if part["op"] in ("message", "photo", "album"):
                    record_outgoing(
                        session,
                        o.row.chat_id,
                        o.row.case_id,
                        f"{o.row.kind}:{part['op']}",
                        part.get("text") or part.get("caption"),
                        o.message_ids[-1] if o.message_ids else None,
                    )
            if o.done:
                row.state, row.sent_at = SENT, now
                if o.row.kind == ANSWER and o.row.case_id is not None:
                    transition(
                        session, o.row.case_id, CaseState.ANSWERED, expected=[CaseState.APPROVED], answered_at=now
                    )
                continue
            if o.error is None:
                continue
            row.last_error = o.error[:500]
            row.attempts += int(o.count_attempt)
            if o.retry_in is None or row.attempts >= max_attempts:
                row.state = FAILED
            else:
                row.next_attempt_at = now + dt.timedelta(seconds=o.retry_in)

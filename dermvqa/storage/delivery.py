"""Delivery bookkeeping for the outbox: what is due, fan-out to clinicians, progress, outcome.

The bot's sender calls these; each is one short transaction. A row's rendered parts are frozen on
first delivery and its progress saved as soon as each part is delivered (before the next is sent),
so a retry or a restart resends only what is missing, plus at most the one send in flight.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from dermvqa.states import CaseState
from dermvqa.storage.cases import transition
from dermvqa.storage.conversation import KnownRecipients, Outgoing, record_outgoing_many
from dermvqa.storage.database import Database
from dermvqa.storage.hot_statements import hot_statements
from dermvqa.storage.models import OutboxMessage, utcnow
from dermvqa.storage.outbox import ANSWER, DELETED, REVIEW_REQUEST, WITHDRAW_POST, add_message, row_values

PENDING, SENT, FAILED = "pending", "sent", "failed"
_OUTBOX = OutboxMessage.__table__
# Built once (their cache keys are memoised): the fan-out runs at every pass with clinicians' rows.
_FAN_OUT_ROWS = select(_OUTBOX.c.id, _OUTBOX.c.kind, _OUTBOX.c.case_id, _OUTBOX.c.payload).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX.c.state == PENDING
)
_TAKEN_KEYS = select(_OUTBOX.c.dedupe_key).where(_OUTBOX.c.dedupe_key.in_(bindparam("keys", expanding=True)))
_INSERT_ROWS = insert(_OUTBOX)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(state=SENT, sent_at=bindparam("now"))
)
_MARK_FAILED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(state=FAILED, last_error=bindparam("error"))
)


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


DUE_LIMIT = 200  # rows one outbox pass reads at most


def due(db: Database, now: dt.datetime, limit: int = DUE_LIMIT) -> list[OutboxRow]:
    """Pending rows whose time has come, oldest first."""
    with db.read() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        return [_view(r) for r in rows]


NO_RECIPIENTS = "no review recipients: set [review] chat_id or clinician_ids"


def fan_out_many(db: Database, row_ids: list[int], recipients: list[int]) -> int:
    """Copy clinicians' rows (no chat) to each recipient chat and close the originals, in one
    transaction of four statements whatever their number (Core: the worker's drafts land here in
    bursts, while patients are waiting on the same thread); returns how many copies were queued.
    A copy already queued (its ``fanout:`` key exists) is not queued twice."""
    if not row_ids:
        return 0
    with db.write_core() as connection:
        rows = connection.execute(_FAN_OUT_ROWS, {"ids": list(row_ids)}).all()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        if not recipients:
            connection.execute(_MARK_FAILED, {"ids": ids, "error": NO_RECIPIENTS})
            return 0
        now = utcnow()
        copies = [
            row_values(row.kind, chat_id, row.case_id, dict(row.payload or {}), now, f"fanout:{row.id}:{chat_id}")
            for row in rows
            for chat_id in recipients
        ]
        taken = set(connection.execute(_TAKEN_KEYS, {"keys": [c["dedupe_key"] for c in copies]}).scalars())
        fresh = [c for c in copies if c["dedupe_key"] not in taken]
        if fresh:
            connection.execute(_INSERT_ROWS, fresh)
        connection.execute(_MARK_SENT, {"ids": ids, "now": now})
    return len(copies)


def _media_of(part: dict[str, Any]) -> str:
    if part["op"] == "album":
        return "document" if part.get("media") == "document" else "photo"
    return "text" if part["op"] == "message" else part["op"]


def posted_messages(
    parts: list[dict[str, Any]], message_ids: list[int] | tuple[int, ...], only: set[int] | None = None
) -> list[dict[str, Any]]:
    """The messages that delivered parts became, in order: ``{"message_id": m, "media": "text" | "photo" |
    "document"}``; with ``only``, just those of the parts with these indexes."""
    ids = iter(message_ids)
    out: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        if part["op"] == "album":
            count = len(part.get("photos") or ())
        else:
            count = int(part["op"] in ("message", "photo", "document"))
        for _ in range(count):
            message_id = next(ids, None)
            if message_id is None:
                return out
            if only is None or index in only:
                out.append({"message_id": message_id, "media": _media_of(part)})
    return out


def queue_withdrawal(session: Session, chat_id: int, messages: list[dict[str, Any]]) -> None:
    """Owe the deletion of a deleted case's messages (``posted_messages``) in ``chat_id``.

    The row has no link to the case, so it outlives it; the sender deletes each message, or blanks
    it when Telegram refuses (``bot.delivery``).
    """
    if messages:
        add_message(session, WITHDRAW_POST, chat_id=chat_id, payload={"messages": messages})


def _withdraw_unrecorded(session: Session, o: RowOutcome) -> None:
    """A review post was sent while its case was being deleted (its row went with the case): the
    messages this attempt delivered were never seen by the erasure, so withdraw them now, in the same
    transaction that finds the row gone."""
    if o.row.kind != REVIEW_REQUEST or o.row.chat_id is None:
        return
    queue_withdrawal(session, o.row.chat_id, posted_messages(o.parts, o.message_ids, only=set(o.delivered)))


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


_DELETE_ROWS = delete(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))


def record_outcomes(db: Database, outcomes: list[RowOutcome], *, max_attempts: int, now: dt.datetime) -> set[int]:
    """Record delivery outcomes in one transaction (the sender's group commit of parts just sent).

    Per outcome: its row's rendered parts (frozen, so a retry resends the same), its progress and
    message ids, the conversation record of each part delivered, and, once it ends, sent, retry
    later, or failed. A delivered answer makes its case ``answered``. The sender commits each part's
    outcome before it sends the next message to that chat, so a crash resends at most that one:
    Telegram offers no idempotency key, so at-least-once is the best any sender can do.

    Returns the ids of the rows that no longer exist (the sender sends nothing more of them).
    """
    if not outcomes:
        return set()
    with db.write() as session:
        return record_outcomes_in(session, outcomes, max_attempts=max_attempts, now=now)


def record_outcomes_in(
    session: Session, outcomes: list[RowOutcome], *, max_attempts: int, now: dt.datetime
) -> set[int]:
    """:func:`record_outcomes` in the caller's write transaction (shared with other writes:
    ``dermvqa.storage.shared_writes``)."""
    gone: set[int] = set()
    if not outcomes:
        return gone
    connection = session.connection()  # no ORM: a burst of acknowledgements records in a few statements
    ids = [o.row.id for o in outcomes]
    statements = hot_statements(connection)
    rows = {r.id: r for r in statements.outcome_rows(ids)}
    known = KnownRecipients(
        patients={
            o.row.chat_id: (r.patient_id, r.consent_at)
            for o in outcomes
            if (r := rows.get(o.row.id)) is not None and r.patient_id is not None
        },
        cases={r.case_exists for r in rows.values() if r.case_exists is not None},
    )
    delivered: list[Outgoing] = []
    updates: list[dict[str, Any]] = []
    deleted: list[int] = []
    for o in outcomes:
        row = rows.get(o.row.id)
        if row is None:  # deleted meanwhile (the patient erased their data)
            _withdraw_unrecorded(session, o)
            gone.add(o.row.id)
            continue
        if o.row.kind == DELETED:  # the erased patient's notice: leaves no row and no record behind
            last_try = o.retry_in is None or row.attempts + int(o.count_attempt) >= max_attempts
            if o.done or (o.error is not None and last_try):
                deleted.append(row.id)
                continue
            o = dataclasses.replace(o, delivered=[])
        values = {
            "row_id": row.id,
            "payload": row.payload,
            "progress": o.progress,
            "message_ids": o.message_ids,
            "state": row.state,
            "sent_at": row.sent_at,
            "last_error": row.last_error,
            "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at,
        }
        if o.parts and "parts" not in (row.payload or {}):
            values["payload"] = {**(row.payload or {}), "parts": o.parts}
        for index in o.delivered:
            part = o.parts[index]
            if part["op"] in ("message", "photo", "album"):
                delivered.append(
                    Outgoing(
                        o.row.chat_id,
                        o.row.case_id,
                        f"{o.row.kind}:{part['op']}",
                        part.get("text") or part.get("caption"),
                        o.message_ids[-1] if o.message_ids else None,
                    )
                )
        if o.done:
            values["state"], values["sent_at"] = SENT, now
            if o.row.kind == ANSWER and o.row.case_id is not None:
                transition(session, o.row.case_id, CaseState.ANSWERED, expected=[CaseState.APPROVED], answered_at=now)
        elif o.error is not None:
            values["last_error"] = o.error[:500]
            values["attempts"] = row.attempts + int(o.count_attempt)
            if o.retry_in is None or values["attempts"] >= max_attempts:
                values["state"] = FAILED
            else:
                values["next_attempt_at"] = now + dt.timedelta(seconds=o.retry_in)
        updates.append(values)
    if updates:
        statements.record_outcomes(updates)
    if deleted:
        connection.execute(_DELETE_ROWS, {"ids": deleted})
    record_outgoing_many(session, delivered, known)
    return gone

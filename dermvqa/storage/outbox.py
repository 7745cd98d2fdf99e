"""Write messages owed to someone into the outbox, inside the caller's transaction.

The bot's sender delivers them (``bot/delivery``). Kinds written by the core:
``review_request`` (a draft is ready: show the case to clinicians) and ``case_failed``
(drafting gave up: tell clinicians). ``dedupe_key`` makes writing the same message twice a no-op.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.storage.models import OutboxMessage

REVIEW_REQUEST = "review_request"
ANSWER = "answer"  # delivering it makes its case answered (dermvqa.storage.delivery)
CASE_FAILED = "case_failed"
WITHDRAW_POST = "withdraw_post"  # delete (or, if refused, blank) the messages of a deleted case's review post
# The patient's data was erased: once delivered (or failed for good) the row itself is removed and
# no conversation record is written, so nothing about that chat stays behind.
DELETED = "deleted"


def add_message(
    session: Session,
    kind: str,
    *,
    chat_id: int | None = None,
    case_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage | None:
    """Queue one outgoing message; None when ``dedupe_key`` was already queued."""
    if dedupe_key is not None and session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ):
        return None
    row = OutboxMessage(kind=kind, chat_id=chat_id, case_id=case_id, payload=payload or {}, dedupe_key=dedupe_key)
    session.add(row)
    session.flush()
    return row


def row_values(
    kind: str,
    chat_id: int | None,
    case_id: int | None,
    payload: dict[str, Any],
    now: dt.datetime,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    """The columns of a new pending outbox row, for Core INSERTs of many rows at once (the hot paths
    that skip :func:`add_message`'s one-row ORM insert)."""
    return {
        "kind": kind,
        "chat_id": chat_id,
        "case_id": case_id,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "progress": 0,
        "next_attempt_at": now,
        "created_at": now,
        "dedupe_key": dedupe_key,
    }

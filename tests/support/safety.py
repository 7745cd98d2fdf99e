"""Casework-level stand-ins for the worker and the outbox sender, for the safety-check tests.

``work`` drafts every queued case through the real ``save_draft`` (with a ``Planter``); ``deliver``
does what ``bot.delivery`` records for every due row (fan-out, the review post showing what
``review.post_detail`` says, message ids, the conversation record, an answer making its case
answered), without Telegram.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from sqlalchemy import select

from dermvqa.casework import kinds, review
from dermvqa.casework.posts import SAFETY_CHECK, PostRef, post_draft_id
from dermvqa.drafting.base import DraftResult
from dermvqa.queue import jobs as queue
from dermvqa.storage import delivery as store_rows
from dermvqa.storage.database import Database
from dermvqa.storage.drafts import save_draft
from dermvqa.storage.models import OutboxMessage, utcnow

_message_ids = itertools.count(1000)
_draft_numbers = itertools.count(1)


def real_draft_text(case_id: int) -> str:
    return f"Real draft {next(_draft_numbers)} for case {case_id}: this looks like eczema; use an emollient."


def work(db: Database, planter=None) -> list[int]:
    """Draft every claimable case (the worker's transaction); returns the new draft ids."""
    now = utcnow() + dt.timedelta(minutes=10)
    drafts = []
    for job in queue.claim(db, "test-worker", 50, 60, now):
        result = DraftResult(real_draft_text(job.case_id), new_tokens=5, seconds=0.1)
        saved = save_draft(
            db, job, "test-worker", result, model_version="m@1", prompt_id=1, queue_seconds=0, now=now, plant=planter
        )
        if saved.saved:
            drafts.append(saved.draft_id)
    return drafts


def _parts(db: Database, row: store_rows.OutboxRow) -> list[dict]:
    if row.kind == kinds.REVIEW_REQUEST:
        detail = review.post_detail(db, row.case_id, row.payload)
        if detail is None:
            return []
        text = f"Case #{detail.case_id}\n\nDraft:\n{detail.draft_text or ''}"
        return [{"op": "message", "text": text, "buttons": [[["Approve", "x"]]], "draft_id": detail.draft_id}]
    if row.kind == kinds.ANSWER:
        return [{"op": "message", "text": row.payload["text"]}]
    if row.kind == kinds.REVIEW_UPDATE:
        return []
    return row.payload.get("parts") or [{"op": "message", "text": row.kind}]


def deliver(db: Database, recipients: list[int]) -> int:
    """Deliver every due row (as the sender records it); returns how many."""
    clinicians_rows = [r.id for r in store_rows.due(db, utcnow() + dt.timedelta(days=1)) if r.chat_id is None]
    store_rows.fan_out_many(db, clinicians_rows, recipients)
    rows = [r for r in store_rows.due(db, utcnow() + dt.timedelta(days=1)) if r.chat_id is not None]
    for row in rows:
        parts = _parts(db, row)
        ids = [next(_message_ids) for part in parts if part["op"] == "message"]
        outcome = store_rows.RowOutcome(
            row, parts=parts, progress=len(parts), message_ids=ids, delivered=list(range(len(parts))), done=True
        )
        store_rows.record_outcomes(db, [outcome], max_attempts=3, now=utcnow())
    return len(rows)


@dataclass(frozen=True)
class Post:
    ref: PostRef
    draft_id: int | None
    check_id: int | None  # a planted draft's post


def posts_of(db: Database, case_id: int) -> list[Post]:
    """Every delivered review post of the case, oldest first (stale ones included)."""
    with db.read() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kinds.REVIEW_REQUEST, OutboxMessage.case_id == case_id)
            .order_by(OutboxMessage.id)
        ).all()
        return [
            Post(
                PostRef(row.chat_id, row.telegram_message_ids[-1]),
                post_draft_id(row),  # what its buttons name: the draft frozen with its parts
                (row.payload or {}).get(SAFETY_CHECK),
            )
            for row in rows
            if row.chat_id is not None and row.telegram_message_ids
        ]

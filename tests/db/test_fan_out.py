"""Clinicians' rows (no chat) are copied to every recipient chat in one transaction
(``dermvqa.storage.delivery.fan_out_many``): each copy once, the originals closed."""

from __future__ import annotations

from sqlalchemy import select

from dermvqa.casework.kinds import URGENT_ALERT
from dermvqa.storage.delivery import NO_RECIPIENTS, fan_out_many
from dermvqa.storage.models import OutboxMessage
from dermvqa.storage.outbox import REVIEW_REQUEST, add_message


def queue_for_clinicians(db, count: int) -> list[int]:
    with db.write() as session:
        rows = [
            add_message(session, REVIEW_REQUEST if i % 2 else URGENT_ALERT, payload={"case_id": i, "flags": ["x"]})
            for i in range(count)
        ]
        return [row.id for row in rows]


def outbox(db) -> list[OutboxMessage]:
    with db.read() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_every_row_is_copied_to_every_recipient_and_closed(db):
    originals = queue_for_clinicians(db, 5)
    assert fan_out_many(db, originals, [701, 702, 703]) == 15
    rows = outbox(db)
    closed = {r.id: r for r in rows if r.id in originals}
    assert {r.state for r in closed.values()} == {"sent"} and all(r.sent_at for r in closed.values())
    copies = [r for r in rows if r.id not in originals]
    assert sorted((r.dedupe_key, r.chat_id) for r in copies) == sorted(
        (f"fanout:{o}:{chat}", chat) for o in originals for chat in (701, 702, 703)
    )
    by_key = {r.dedupe_key: r for r in copies}
    for original in closed.values():  # each copy carries its original's kind, case and payload
        copy = by_key[f"fanout:{original.id}:702"]
        assert (copy.kind, copy.case_id, copy.payload, copy.state) == (
            original.kind,
            original.case_id,
            original.payload,
            "pending",
        )


def test_a_row_already_fanned_out_or_copied_is_not_copied_again(db):
    originals = queue_for_clinicians(db, 3)
    fan_out_many(db, originals[:1], [701])
    assert fan_out_many(db, originals[:1], [701]) == 0  # closed: nothing to do
    # A copy queued before a crash, the original still pending: only the missing copies are added.
    with db.write() as session:
        add_message(session, REVIEW_REQUEST, chat_id=702, payload={}, dedupe_key=f"fanout:{originals[1]}:702")
    fan_out_many(db, originals[1:], [701, 702])
    keys = [r.dedupe_key for r in outbox(db) if r.dedupe_key]
    assert len(keys) == len(set(keys)) == 5  # 1 + 2 + 2, none twice


def test_without_recipients_the_rows_fail_with_the_reason(db):
    originals = queue_for_clinicians(db, 2)
    assert fan_out_many(db, originals, []) == 0
    rows = outbox(db)
    assert [(r.state, r.last_error) for r in rows] == [("failed", NO_RECIPIENTS)] * 2

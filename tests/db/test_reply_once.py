"""A reply queued with a dedupe key goes out once however often its cause repeats (bot.replies)."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import func, select

from bot.replies import queue_reply
from dermvqa.storage.models import OutboxMessage


def rows(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage))


def test_the_same_key_queues_one_message_and_no_key_queues_each(db):
    d = SimpleNamespace(db=db)
    for _ in range(3):  # a double (triple) tap of Approve on an urgent case
        queue_reply(
            d, 700, "Case #1 is URGENT", [[["approve", "rv:uok:1:2:3"]]], case_id=None, dedupe_key="uok:1:2:700"
        )
    assert rows(db) == 1
    queue_reply(d, 700, "Case #1 is URGENT", dedupe_key="uok:1:2:701")  # another clinician's chat
    queue_reply(d, 700, "plain")
    queue_reply(d, 700, "plain")
    assert rows(db) == 4

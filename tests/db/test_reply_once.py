"""A reply queued with a dedupe key goes out once however often its cause repeats (bot.replies)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.rendering import text_parts
from bot.replies import queue_parts
from dermvqa.storage.models import OutboxMessage


def rows(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage))


def test_the_same_key_queues_one_message_and_no_key_queues_each(db):
    for _ in range(3):  # a double (triple) tap of Approve on an urgent case
        queue_parts(db, 700, text_parts("Case #1 is URGENT", [[["approve", "rv:uok:1:2:3"]]]), dedupe_key="uok:1:2:700")
    assert rows(db) == 1
    queue_parts(db, 700, text_parts("Case #1 is URGENT"), dedupe_key="uok:1:2:701")  # another clinician's chat
    queue_parts(db, 700, text_parts("plain"))
    queue_parts(db, 700, text_parts("plain"))
    assert rows(db) == 4

"""The review room's lock as transactions: durable, idempotent, and the warning owed in the same commit."""

from __future__ import annotations

from sqlalchemy import select

from dermvqa.casework import kinds
from dermvqa.casework.review_room import acknowledge_room, lock_room, room_state
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.models import OutboxMessage

GROUP = -100123


def test_lock_warns_once_and_ack_unlocks(tmp_path, data_key):
    db = open_database(f"sqlite:///{tmp_path / 'r.sqlite3'}", key=data_key)
    upgrade(db)
    try:
        assert not room_state(db, GROUP).locked
        assert lock_room(db, GROUP, "user 7 (not a clinician) joined the group", [900, 901])
        assert not lock_room(db, GROUP, "again", [900, 901])  # already locked: no second warning
        state = room_state(db, GROUP)
        assert state.locked and state.reason.startswith("user 7") and state.since is not None
        with db.read() as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.ROOM_LOCKED)).all()
        assert sorted(r.chat_id for r in rows) == [GROUP, 900, 901]
        assert not room_state(db, -999).locked  # another chat is not affected
        assert acknowledge_room(db, GROUP, "operator")
        assert not acknowledge_room(db, GROUP, "operator")
        assert not room_state(db, GROUP).locked
        assert lock_room(db, GROUP, "the group has 5 members", [900])  # can lock again later
    finally:
        db.dispose()

"""The review group as a clinicians' room: its lock, as transactions, and the rules that set it.

Review posts show patients' photos and words, so they go to the review group only while nothing
suggests that anyone but clinicians can read it. When a user who is not a clinician joins, or the
group has more members than there are clinicians (plus the bot), the room is *locked*: the bot
warns the clinicians, and from then on the group sees only "case #N is waiting" (the case itself
is shown in a clinician's private chat with ``/case N``) until the operator acknowledges with
``dermbot room ack`` after removing the stranger. The lock is durable (a restart keeps it) and is
set again at the next check if the group is still too large.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from dermvqa.casework import kinds
from dermvqa.storage.database import Database
from dermvqa.storage.models import ServiceFlag, utcnow
from dermvqa.storage.outbox import add_message

FLAG_PREFIX = "review_room:"


@dataclass(frozen=True)
class RoomState:
    locked: bool
    reason: str = ""  # why it was locked: who joined, or the member count (no names)
    since: dt.datetime | None = None


# -- pure rules ------------------------------------------------------------------------------------


def strangers(user_ids: Iterable[int], clinician_ids: Iterable[int], bot_id: int | None) -> list[int]:
    """Users among ``user_ids`` who are neither clinicians nor the bot itself."""
    allowed = set(clinician_ids) | ({bot_id} if bot_id is not None else set())
    return sorted({u for u in user_ids if u not in allowed})


def too_many_members(member_count: int, clinician_ids: Iterable[int]) -> bool:
    """True when the group must hold someone else: more members than the clinicians and the bot."""
    return member_count > len(set(clinician_ids)) + 1


# -- transactions ----------------------------------------------------------------------------------


def room_state(db: Database, chat_id: int) -> RoomState:
    with db.read() as session:
        flag = session.get(ServiceFlag, FLAG_PREFIX + str(chat_id))
    if flag is None or not flag.value.get("locked"):
        return RoomState(False)
    return RoomState(True, str(flag.value.get("reason", "")), flag.updated_at)


def lock_room(db: Database, chat_id: int, reason: str, clinician_chats: Iterable[int]) -> bool:
    """Lock the room and, in the same transaction, owe the clinicians a warning. False: already locked."""
    name = FLAG_PREFIX + str(chat_id)
    with db.write() as session:
        flag = session.get(ServiceFlag, name)
        if flag is not None and flag.value.get("locked"):
            return False
        value = {"locked": True, "reason": reason}
        if flag is None:
            session.add(ServiceFlag(name=name, value=value, updated_at=utcnow()))
        else:
            flag.value, flag.updated_at = value, utcnow()
        for target in [chat_id, *sorted(set(clinician_chats))]:
            add_message(session, kinds.ROOM_LOCKED, chat_id=target, payload={"reason": reason})
    return True


def acknowledge_room(db: Database, chat_id: int, actor: str) -> bool:
    """The operator's word that the room holds only clinicians again. False: it was not locked."""
    with db.write() as session:
        flag = session.get(ServiceFlag, FLAG_PREFIX + str(chat_id))
        if flag is None or not flag.value.get("locked"):
            return False
        flag.value = {"locked": False, "acknowledged_by": actor, "reason": flag.value.get("reason", "")}
        flag.updated_at = utcnow()
    return True

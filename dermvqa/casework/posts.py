"""Review posts: the messages that showed a case to clinicians, and closing them after a decision."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.casework import kinds
from dermvqa.storage.database import Database
from dermvqa.storage.models import OutboxMessage
from dermvqa.storage.outbox import add_message


def review_posts(session: Session, case_id: int) -> list[OutboxMessage]:
    """Review posts of a case sent or still on their way (one per recipient and draft)."""
    return list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == kinds.REVIEW_REQUEST,
                OutboxMessage.case_id == case_id,
                OutboxMessage.chat_id.is_not(None),
                OutboxMessage.state != "failed",
            )
        )
    )


def close_review_posts(session: Session, case_id: int, outcome: str, *, erase: bool = False) -> int:
    """Queue an update of every review post of the case, delivered or still on its way.

    Normally the post's last message is edited (the outcome appended, the buttons removed); the
    update names the post, and is applied once the post itself is delivered. With ``erase`` (the
    patient deleted their data) the messages delivered so far are deleted instead; the update rows
    carry no link to the case, so they outlive it (the case's undelivered posts go with it).
    """
    n = 0
    for post in review_posts(session, case_id):
        if erase:
            if not post.telegram_message_ids:
                continue
            payload = {"delete_message_ids": list(post.telegram_message_ids), "outcome": outcome}
        else:
            payload = {"post_id": post.id, "outcome": outcome}
        add_message(
            session, kinds.REVIEW_UPDATE, chat_id=post.chat_id, case_id=None if erase else case_id, payload=payload
        )
        n += 1
    return n


@dataclass(frozen=True)
class PostState:
    delivered: bool  # every part sent
    pending: bool  # still on its way: apply updates later
    message_id: int | None  # the last message (the one with the buttons)
    text: str
    is_caption: bool


def post_state(db: Database, post_id: int) -> PostState:
    with db.read() as session:
        post = session.get(OutboxMessage, post_id)
        if post is None or post.state == "failed":
            return PostState(False, False, None, "", False)
        parts = (post.payload or {}).get("parts") or []
        last = parts[-1] if parts else {}
        return PostState(
            delivered=post.state == "sent",
            pending=post.state == "pending",
            message_id=post.telegram_message_ids[-1] if post.telegram_message_ids else None,
            text=last.get("text") or last.get("caption") or "",
            is_caption="text" not in last,
        )

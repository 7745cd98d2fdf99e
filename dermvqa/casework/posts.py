"""Review posts: the messages that showed a case to clinicians, and closing them after a decision."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.casework import kinds
from dermvqa.storage.database import Database
from dermvqa.storage.delivery import posted_messages, queue_withdrawal
from dermvqa.storage.models import OutboxMessage
from dermvqa.storage.outbox import add_message

# A review post's payload key naming the safety check it shows (a planted draft: see
# dermvqa.casework.safety_checks, which closes such posts itself).
SAFETY_CHECK = "safety_check"


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

    Normally the post's last message is edited (the outcome appended, the buttons removed; posts of a
    planted draft are left to ``dermvqa.casework.safety_checks``, which says what they were); the
    update names the post, and is applied once the post itself is delivered. With ``erase`` (the
    patient deleted their data) the messages delivered so far are withdrawn instead (and so are the
    clinicians' previews of the case, quoting an edited answer or a reason): deleted, or blanked
    when Telegram refuses (posts older than 48 hours). The withdrawal rows carry no link to
    the case, so they outlive it (the case's undelivered posts go with it; one sent while this
    transaction commits is withdrawn when its send is recorded, ``dermvqa.storage.delivery``).
    """
    if erase:
        return _withdraw_posts(session, case_id)
    n = 0
    for post in review_posts(session, case_id):
        if SAFETY_CHECK in (post.payload or {}):  # a planted draft's post: never "approved by" anyone
            continue
        add_message(
            session,
            kinds.REVIEW_UPDATE,
            chat_id=post.chat_id,
            case_id=case_id,
            payload={"post_id": post.id, "outcome": outcome},
        )
        n += 1
    return n


def _withdraw_posts(session: Session, case_id: int) -> int:
    posts = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind.in_([kinds.REVIEW_REQUEST, kinds.REPLY]),  # a reply with a case: a preview
            OutboxMessage.case_id == case_id,
            OutboxMessage.chat_id.is_not(None),
        )
    )
    n = 0
    for post in posts:  # failed ones too: their parts delivered before the failure are still shown
        parts = (post.payload or {}).get("parts") or []
        messages = posted_messages(parts, post.telegram_message_ids or ())
        if messages:
            queue_withdrawal(session, post.chat_id, messages)
            n += 1
    return n


@dataclass(frozen=True)
class PostRef:
    """The message a review button was pressed under: Telegram's chat and message ids."""

    chat_id: int
    message_id: int


MISSING, UNRECORDED = "missing", "unrecorded"


def check_post(session: Session, case_id: int, draft_id: int | None, post: PostRef) -> tuple[str, OutboxMessage | None]:
    """Whether ``post`` is a recorded review post of this case showing this draft: "" and its row when it is.

    Otherwise why not: ``MISSING`` (a leftover post: its case was deleted, or the ids do not match
    any post of this case) or ``UNRECORDED`` (the case has a post to that chat whose send is not
    recorded yet, milliseconds after it went out: ask again shortly).
    """
    rows = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == kinds.REVIEW_REQUEST,
            OutboxMessage.case_id == case_id,
            OutboxMessage.chat_id == post.chat_id,
        )
    ).all()
    for row in rows:
        if post.message_id in (row.telegram_message_ids or ()):
            return ("", row) if post_draft_id(row) == (draft_id or None) else (MISSING, None)
    if any(row.state == "pending" for row in rows):
        return UNRECORDED, None
    return MISSING, None


def post_draft_id(post: OutboxMessage) -> int | None:
    """The draft a review post showed: recorded with its rendered parts, else the one it was queued for."""
    payload = post.payload or {}
    parts = payload.get("parts") or []
    for part in reversed(parts):
        if "draft_id" in part:
            return part["draft_id"] or None
    return payload.get("draft_id") or None


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

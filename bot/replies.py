"""Replies go through the outbox too: a reply that fails is retried, and a crash loses none.

Only ephemeral interface calls (answering a button press, removing buttons that were used) are
made directly, and their failure never stops a handler (``best_effort``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.deps import deps
from bot.rendering import text_parts
from dermvqa.storage.database import Database
from dermvqa.storage.outbox import add_message

logger = logging.getLogger(__name__)

REPLY = "reply"


def queue_parts(
    db: Database, chat_id: int, parts: list[dict[str, Any]], case_id: int | None = None, dedupe_key: str | None = None
) -> None:
    """Write one reply to the outbox (on the database thread or process): its parts, the case it is
    about, its dedupe key."""
    with db.write() as session:
        add_message(session, REPLY, chat_id=chat_id, case_id=case_id, payload={"parts": parts}, dedupe_key=dedupe_key)


async def reply(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    text: str,
    buttons: list | None = None,
    *,
    case_id: int | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Queue a message to ``chat_id`` (split at 4096 characters; buttons on the last part).

    ``case_id``: the case the text is about (a clinician's preview quoting an edit or a reason), so
    the row and its conversation record go when the patient erases their data. ``dedupe_key``: a
    message that must be queued once however often its cause repeats (a double tap, a redelivery)."""
    await _queue(context, chat_id, text_parts(text, buttons), case_id, dedupe_key)


async def reply_parts(context: ContextTypes.DEFAULT_TYPE, chat_id: int, parts: list[dict[str, Any]]) -> None:
    """Queue ready-made parts (e.g. a ForceReply prompt from :func:`bot.rendering.prompt_part`)."""
    await _queue(context, chat_id, parts)


async def _queue(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    parts: list[dict[str, Any]],
    case_id: int | None = None,
    dedupe_key: str | None = None,
) -> None:
    d = deps(context)
    await d.call(queue_parts, d.db, chat_id, parts, case_id, dedupe_key)
    d.nudge()


async def best_effort(call: Awaitable[Any], what: str) -> None:
    """An ephemeral interface call whose failure must not stop the handler."""
    try:
        await call
    except TelegramError as exc:
        logger.info("%s failed: %s", what, type(exc).__name__)

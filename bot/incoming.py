"""Store every incoming message in the conversation record (handler group -1, before the rest)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.deps import deps
from bot.messagelog import log_incoming

logger = logging.getLogger(__name__)


def describe(update: Update) -> tuple[str, str | None, int | None]:
    """(kind, text, message id) of an update, for the record."""
    if update.callback_query is not None:
        q = update.callback_query
        return "callback", q.data, q.message.message_id if q.message else None
    message = update.effective_message
    if message is None:
        return "other", None, None
    if message.photo:
        return "photo", message.caption, message.message_id
    if message.document:
        return "document", message.caption, message.message_id
    if message.text:
        return ("command" if message.text.startswith("/") else "text"), message.text, message.message_id
    return "other", None, message.message_id


async def record_incoming(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    d = deps(context)
    kind, text, message_id = describe(update)
    try:
        await d.call(
            log_incoming,
            d.db,
            user_id=user.id,
            chat_id=chat.id,
            kind=kind,
            text=text,
            message_id=message_id,
            is_clinician=d.is_clinician(user.id),
        )
    except Exception:
        logger.exception("could not store an incoming %s from user %s", kind, user.id)

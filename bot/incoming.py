"""Store every incoming message in the conversation record (handler group -1, before the rest)."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.deps import deps
from bot.wake import wait_stop
from bot.writes import SharedWrites
from dermvqa.storage.conversation import IncomingEntry, record_incoming_in

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


class IncomingRecorder:
    """Buffers incoming messages and stores them every ``interval`` seconds, riding with the next
    shared transaction (``bot.writes``: a Submit batch's or the delivery records'), or in one of its
    own when none comes within another ``interval``.

    One transaction per message would cost a crowd of patients dearly (bench/bot_load.py); a crash
    can lose at most the last two intervals' record entries, never a case, photo or description.
    """

    def __init__(self, writes: SharedWrites, interval: float = 0.05) -> None:
        self.writes, self.interval = writes, interval
        self._buffer: list[IncomingEntry] = []

    def add(self, entry: IncomingEntry) -> None:
        self._buffer.append(entry)

    async def flush(self) -> None:
        entries, self._buffer = self._buffer, []
        if entries:
            try:
                await self.writes.ride(self.interval, record_incoming_in, entries)
            except Exception:
                logger.exception("could not store %d incoming message(s)", len(entries))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await wait_stop(stop, self.interval)
            await self.flush()


async def record_incoming(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    d = deps(context)
    kind, text, message_id = describe(update)
    d.incoming.add(IncomingEntry(user.id, chat.id, kind, text, message_id, d.is_clinician(user.id)))

"""The outbox sender: delivers every message owed, with retries, and marks it sent.

Rows are delivered in order per chat and concurrently across chats, in passes: each pass sends
what is due, then records every outcome in one transaction (parts rendered once and frozen,
progress, the conversation record, sent / retry / failed). A restart resends nothing recorded;
only deliveries of the pass in flight at a crash (milliseconds) are sent again, since Telegram
offers no idempotency key.

Errors: ``RetryAfter`` waits what Telegram asks (not counted as an attempt); network errors and
timeouts back off exponentially; ``Forbidden`` (the user blocked the bot) and ``BadRequest`` are
permanent. Every call goes through the Application's ``AIORateLimiter``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import rendering
from bot.dbthread import DbThread
from bot.texts import Texts
from dermvqa.casework import kinds
from dermvqa.casework.posts import post_state
from dermvqa.casework.review import case_detail
from dermvqa.storage import delivery as store_rows
from dermvqa.storage.database import Database
from dermvqa.storage.delivery import OutboxRow, RowOutcome
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import utcnow

logger = logging.getLogger(__name__)

# BadRequest descriptions that mean "already as wanted" for edits and deletes.
_ALREADY_DONE = (
    "message is not modified",
    "message to edit not found",
    "message to delete not found",
    "message can't be deleted",
)


class _PostNotYetDelivered(Exception):
    """A review update must wait until the post it edits has been delivered."""


def keyboard(buttons: list | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    )


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        db: Database,
        store: ImageStore,
        texts: Texts,
        recipients: Sequence[int],
        *,
        max_attempts: int = 8,
        poll_seconds: float = 0.5,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        concurrency: int = 64,
        db_thread: DbThread | None = None,
    ) -> None:
        self.bot, self.db, self.store, self.texts = bot, db, store, texts
        self.recipients = list(recipients)
        self.max_attempts, self.poll_seconds = max_attempts, poll_seconds
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.call = db_thread or DbThread()
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)

    def nudge(self) -> None:
        """Something was just written to the outbox: deliver it now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.deliver_due()
            except Exception:
                logger.exception("outbox pass failed")
                busy = 0
            if busy:
                continue
            self._wake.clear()
            waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for task in waiters:
                task.cancel()

    async def deliver_due(self) -> int:
        """One pass over the due rows, recorded in one transaction; returns how many were handled."""
        rows = await self.call(store_rows.due, self.db, utcnow())
        if not rows:
            return 0
        for row in rows:
            if row.chat_id is None:
                await self.call(store_rows.fan_out, self.db, row.id, self.recipients)
        by_chat: dict[int, list[OutboxRow]] = defaultdict(list)
        for row in rows:
            if row.chat_id is not None:
                by_chat[row.chat_id].append(row)
        per_chat = await asyncio.gather(*(self._deliver_chat(chat_rows) for chat_rows in by_chat.values()))
        outcomes = [o for chat in per_chat for o in chat]
        await self.call(store_rows.record_outcomes, self.db, outcomes, max_attempts=self.max_attempts, now=utcnow())
        return len(rows)

    async def _deliver_chat(self, rows: list[OutboxRow]) -> list[RowOutcome]:
        outcomes = []
        async with self._limit:
            for row in rows:
                outcome = await self._deliver(row)
                outcomes.append(outcome)
                if not outcome.done and outcome.retry_in is not None:
                    break  # keep this chat's order: later rows wait for this one
        return outcomes

    async def _render(self, row: OutboxRow) -> list[dict[str, Any]]:
        if "parts" in row.payload:
            return row.payload["parts"]
        if row.kind == kinds.REVIEW_REQUEST:
            detail = await self.call(case_detail, self.db, row.case_id)
            return rendering.review_post(detail, self.texts) if detail else []
        if row.kind == kinds.REVIEW_UPDATE:
            post = None
            if "post_id" in row.payload:
                post = await self.call(post_state, self.db, row.payload["post_id"])
                if post.pending:
                    raise _PostNotYetDelivered
            return rendering.review_update(row.payload, post)
        if row.kind in kinds.PATIENT_KINDS:
            return rendering.patient_message(row.kind, row.payload, self.texts)
        return rendering.clinician_notice(row.kind, row.payload)

    async def _deliver(self, row: OutboxRow) -> RowOutcome:
        """Deliver one row's remaining parts; the outcome is recorded with the rest of the pass."""
        outcome = RowOutcome(row, progress=row.progress, message_ids=list(row.message_ids))
        try:
            outcome.parts = await self._render(row)
            for index in range(row.progress, len(outcome.parts)):
                outcome.message_ids.extend(await self._perform(row.chat_id, outcome.parts[index]))
                outcome.delivered.append(index)
                outcome.progress = index + 1
            outcome.done = True
        except _PostNotYetDelivered:
            outcome.error, outcome.retry_in, outcome.count_attempt = "waiting for the review post", 0.5, False
        except RetryAfter as exc:
            outcome.error, outcome.retry_in, outcome.count_attempt = "RetryAfter", retry_seconds(exc), False
            logger.info("outbox %s: Telegram asks to wait %.1fs", row.id, outcome.retry_in)
        except (Forbidden, BadRequest) as exc:
            outcome.error = f"{type(exc).__name__}: {exc.message}"
            logger.warning(
                "outbox %s (%s) to chat %s failed permanently: %s", row.id, row.kind, row.chat_id, type(exc).__name__
            )
        except (NetworkError, TelegramError) as exc:
            outcome.error = f"{type(exc).__name__}: {exc.message}"
            outcome.retry_in = min(self.backoff_base * 2**row.attempts, self.backoff_max)
            logger.info("outbox %s: %s, attempt %d", row.id, type(exc).__name__, row.attempts + 1)
        except Exception as exc:
            logger.exception("outbox %s (%s) cannot be delivered", row.id, row.kind)
            outcome.error = type(exc).__name__
        return outcome

    async def _perform(self, chat_id: int, part: dict[str, Any]) -> list[int]:
        op = part["op"]
        if op == "message":
            msg = await self.bot.send_message(chat_id, part["text"], reply_markup=keyboard(part.get("buttons")))
            return [msg.message_id]
        if op == "photo":
            msg = await self.bot.send_photo(
                chat_id,
                await self._media(part["photo"]),
                caption=rendering.clip(part.get("caption") or "") or None,
                reply_markup=keyboard(part.get("buttons")),
            )
            return [msg.message_id]
        if op == "album":
            media = [InputMediaPhoto(await self._media(ref)) for ref in part["photos"]]
            return [m.message_id for m in await self.bot.send_media_group(chat_id, media)]
        if op == "edit":
            try:
                if part.get("is_caption"):
                    await self.bot.edit_message_caption(chat_id, part["message_id"], caption=part["text"])
                else:
                    await self.bot.edit_message_text(part["text"], chat_id, part["message_id"])
            except BadRequest as exc:
                if not exc.message.lower().startswith(_ALREADY_DONE):
                    raise
            return []
        if op == "delete":
            try:
                await self.bot.delete_message(chat_id, part["message_id"])
            except BadRequest as exc:
                if not exc.message.lower().startswith(_ALREADY_DONE):
                    raise
            return []
        raise ValueError(f"unknown part op {op!r}")

    async def _media(self, ref: dict[str, Any]) -> str | bytes:
        """A photo to send: Telegram's file id when we have it, else the stored bytes."""
        if ref.get("file_id"):
            return ref["file_id"]
        return await asyncio.to_thread(self.store.read, ref["sha256"])  # file I/O, not the database

"""The outbox sender: delivers every message owed, with retries, and marks it sent.

Rows are delivered in order per chat and concurrently across chats, in passes. Each send is
recorded as soon as it succeeds (the row's rendered parts, frozen on first delivery; its progress
and message ids; the conversation record; sent once its last part is out), in a short transaction
on the bot's database thread, before the next message to that chat is sent. Sends that complete
within the same few milliseconds share one transaction (a group commit), so recording costs little.

The promise is at-least-once: nothing owed is lost, and a restart resends nothing recorded. Telegram
offers no idempotency key, so a send whose answer never came back (a crash, a lost response) is
sent again: after a crash at most the one send that was in flight to each chat at that moment can
arrive twice (an album counts as one send).

Errors: ``RetryAfter`` waits what Telegram asks (not counted as an attempt); network errors and
timeouts back off exponentially; ``Forbidden`` (the user blocked the bot) and ``BadRequest`` are
permanent. Every call goes through the Application's ``AIORateLimiter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import io
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from PIL import Image
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    MessageEntity,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import rendering
from bot.dbthread import DbRunner, DbThread
from bot.groupcommit import GroupCommit
from bot.texts import Texts
from bot.wake import wait_either
from bot.writes import SharedWrites
from dermvqa.casework import kinds
from dermvqa.casework.post_priority import hold_case_posts
from dermvqa.casework.posts import post_state
from dermvqa.casework.review import post_detail
from dermvqa.casework.review_room import room_state
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


WITHDRAWN_TEXT = "Case withdrawn."  # what a deleted case's review post shows when Telegram keeps it


@functools.cache
def _withdrawn_photo() -> bytes:
    """A small plain grey picture that replaces a withdrawn case's photo (a photo cannot become text)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 200, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _upload_name(content: str | bytes, number: int) -> str | None:
    """A file name for an uploaded image (by its format), so a clinician can open it; None for a file id."""
    if isinstance(content, str):
        return None
    if content.startswith(b"\x89PNG"):
        extension = "png"
    elif content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        extension = "webp"
    else:
        extension = "jpg"
    return f"photo-{number}.{extension}"


class _PostNotYetDelivered(Exception):
    """A review update must wait until the post it edits has been delivered."""


class _RecordFailed(Exception):
    """A delivery could not be recorded: stop sending (the next pass resumes from what was recorded)."""


class ProgressLog:
    """Records delivery outcomes as they happen, in group commits on the bot's database thread.

    ``record`` returns once the outcome is committed. Outcomes arriving while a commit runs (sends
    to other chats that completed within the same milliseconds) go into the next one together, so
    a burst costs a few transactions, not one per message, and no send waits on more than one.
    """

    def __init__(
        self, writes: SharedWrites, max_attempts: int, window: float = 0.003, ride: float | None = None
    ) -> None:
        """``ride``: for sends nobody waits to follow at once (acknowledgements), each batch of records
        waits up to that many seconds for another write's transaction to go with (``SharedWrites.ride``)
        rather than starting its own."""
        self.writes, self.max_attempts, self.ride = writes, max_attempts, ride
        # sends completing within ``window`` seconds share the commit
        self._group: GroupCommit[RowOutcome, bool] = GroupCommit(
            self._commit, name="outbox-progress", window=0.0 if ride else window
        )

    @property
    def commits(self) -> int:  # transactions written (for tests and benchmarks)
        return self._group.commits

    async def record(self, outcome: RowOutcome) -> bool:
        """Commit ``outcome``; False when its row no longer exists (deleted with its case)."""
        return await self._group.add(outcome)

    async def _commit(self, outcomes: list[RowOutcome]) -> list[bool]:
        try:
            # shared with a Submit batch or the incoming record handed over meanwhile
            write = functools.partial(self.writes.ride, self.ride) if self.ride else self.writes
            gone = await write(store_rows.record_outcomes_in, outcomes, max_attempts=self.max_attempts, now=utcnow())
        except Exception as exc:  # the database is unavailable: the senders stop and retry later
            logger.error("outbox: recording %d deliveries failed: %s", len(outcomes), type(exc).__name__)
            raise _RecordFailed(type(exc).__name__) from None
        return [outcome.row.id not in gone for outcome in outcomes]


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
        db_thread: DbRunner | None = None,
        writes: SharedWrites | None = None,
        direct_window: float = 0.1,
    ) -> None:
        self.bot, self.db, self.store, self.texts = bot, db, store, texts
        self.recipients = list(recipients)  # replaced when the clinician list is reloaded
        self.room_chat_id = 0  # the review group: while it is locked, it sees case numbers only
        self.max_attempts, self.poll_seconds = max_attempts, poll_seconds
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.call = db_thread or DbThread()
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self.writes = writes or SharedWrites(self.call, db)
        self.progress = ProgressLog(self.writes, max_attempts)
        # Direct deliveries (acknowledgements) record within ``direct_window`` (the chat stays taken
        # until then; a pass that finds its next message meanwhile is woken again): nobody waits on these
        # commits, so their records ride with the next Submit batch's transaction (in a crowd there
        # is always one coming) or, when none comes in time, share one of their own.
        self.direct_progress = ProgressLog(self.writes, max_attempts, ride=direct_window)
        self._direct: set[asyncio.Task] = set()
        # Chats being written to (by a pass or by deliver_now): a chat is taken before any await (one
        # event loop: checking and taking is atomic) and released once its records are committed.
        # A pass's read of what is due cannot show a released row as pending: reads and records run
        # in order on the one database thread, and the read's result resumes the pass first.
        self._busy_chats: Counter[int] = Counter()
        self._passed_over: defaultdict[int, set[int]] = defaultdict(set)  # rows a pass found in busy chats
        # Patients first (dermvqa.casework.post_priority): Submits waiting for their acknowledgement,
        # and since when the passes have kept case posts back for them.
        self._patients_waiting = 0
        self._posts_held_since: float | None = None

    def nudge(self) -> None:
        """Something was just written to the outbox: deliver it now rather than at the next poll."""
        self._wake.set()

    async def deliver_now(self, rows: Sequence[OutboxRow], *, reserved: int | None = None) -> None:
        """Deliver rows just committed for one chat (a Submit's acknowledgement) without waiting for
        a pass: no read of the outbox, the send and its record as any other. Returns once the first
        send is answered: the caller's concurrency slot bounds the requests in flight, as in any bot
        (more requests waiting for the connection pool cost CPU in httpcore), and the record is
        committed afterwards, with the next shared transaction, within ``direct_window``. The
        chat stays taken until then. When that chat is already being written to, the next pass
        delivers them instead, in order. ``reserved``: the chat the caller holds with :meth:`reserve`
        since before the rows were committed (a pass could otherwise send them in between)."""
        rows = [row for row in rows if row.chat_id is not None]
        if not rows:
            return
        chat = rows[0].chat_id
        held = int(chat == reserved)  # the caller's own hold does not make the chat busy
        if any(row.chat_id != chat for row in rows) or self._busy_chats[chat] > held:
            self.nudge()
            return
        self._claim(chat)  # before any await: a pass must not take them too
        sent = asyncio.Event()
        task = asyncio.create_task(self._deliver_direct(chat, rows, sent), name="outbox-direct")
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)
        await sent.wait()

    async def _deliver_direct(self, chat: int, rows: list[OutboxRow], sent: asyncio.Event) -> None:
        try:
            # One row (an acknowledgement): its record rides. Several (with urgent advice): each
            # record is committed before the next row is sent, so they go in the passes' short window.
            log = self.direct_progress if len(rows) == 1 else self.progress
            outcomes = await self._deliver_chat(rows, limited=False, log=log, sent=sent)
        except Exception:
            logger.exception("outbox: direct delivery failed; the next pass retries")
            outcomes = []
        finally:
            sent.set()
            if chat in self._passed_over:  # what a pass found meanwhile was these rows: no need to wake it
                self._passed_over[chat].difference_update(row.id for row in rows)
            self._release(chat)
        if len(outcomes) < len(rows) or not all(outcome.done for outcome in outcomes):
            self.nudge()  # what is left (a retry, a later row) goes with the passes

    async def drain(self) -> None:
        """Wait for direct deliveries still recording (before the database thread closes)."""
        if self._direct:
            await asyncio.gather(*self._direct, return_exceptions=True)

    @contextlib.contextmanager
    def reserve(self, chat: int) -> Iterator[None]:
        """Hold ``chat`` so that no pass writes to it: taken before a transaction that writes rows the
        caller then hands to :meth:`deliver_now` (``reserved=chat``); released on leaving."""
        self._claim(chat)
        self._patients_waiting += 1
        try:
            yield
        finally:
            self._release(chat)
            self._patients_waiting -= 1
            if not self._patients_waiting and self._posts_held_since is not None:
                self.nudge()  # the case posts kept back for these patients go now

    def _claim(self, chat: int) -> None:
        self._busy_chats[chat] += 1

    def _release(self, chat: int) -> None:
        self._busy_chats[chat] -= 1
        if not self._busy_chats[chat]:
            del self._busy_chats[chat]
            if self._passed_over.pop(chat, None):  # a pass found rows for it meanwhile: they go now
                self.nudge()

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
            await wait_either(stop, self._wake, self.poll_seconds)
        await self.drain()

    async def deliver_due(self) -> int:
        """One pass over the due rows, each send recorded as it succeeds; returns how many were handled."""
        rows = await self.call(store_rows.due, self.db, utcnow(), store_rows.DUE_LIMIT)
        complete = len(rows) < store_rows.DUE_LIMIT  # (else more are due than it read)
        # Nothing for a chat being written to: it may be that very row (sent directly), and a chat's
        # messages go in order.
        busy = [row for row in rows if row.chat_id is not None and self._busy_chats[row.chat_id]]
        for row in busy:  # they go with a pass woken when the chat is free (unless it is this very row)
            self._passed_over[row.chat_id].add(row.id)
        rows = self._hold_case_posts([row for row in rows if not self._busy_chats[row.chat_id]], complete)
        if not rows:
            return 0
        by_chat: dict[int, list[OutboxRow]] = defaultdict(list)
        for row in rows:
            if row.chat_id is not None:
                by_chat[row.chat_id].append(row)
        for chat in by_chat:  # before any await: deliver_now must see them taken
            self._claim(chat)
        try:
            clinicians = [row.id for row in rows if row.chat_id is None]
            if clinicians:  # copied to each clinician's chat, delivered by the next pass
                await self.call(store_rows.fan_out_many, self.db, clinicians, self.recipients)
            # Every chat finishes (and records) before the next pass reads what is due, even if one fails.
            per_chat = await asyncio.gather(
                *(self._deliver_chat(chat_rows) for chat_rows in by_chat.values()), return_exceptions=True
            )
        finally:
            for chat in by_chat:
                self._release(chat)
        for result in per_chat:
            if isinstance(result, BaseException):
                raise result
        return len(rows)

    def _hold_case_posts(self, rows: list[OutboxRow], complete: bool) -> list[OutboxRow]:
        """Patients first: the rows to send now (``dermvqa.casework.post_priority``)."""
        now = time.monotonic()
        held_for = None if self._posts_held_since is None else now - self._posts_held_since
        waiting = self._patients_waiting > 0
        hold = hold_case_posts(rows, patients_waiting=waiting, held_for_s=held_for, complete=complete)
        if not hold.held:
            self._posts_held_since = None
        elif self._posts_held_since is None:
            self._posts_held_since = now
        return hold.now

    async def _deliver_chat(
        self,
        rows: list[OutboxRow],
        limited: bool = True,
        log: ProgressLog | None = None,
        sent: asyncio.Event | None = None,
    ) -> list[RowOutcome]:
        outcomes = []
        async with self._limit if limited else contextlib.nullcontext():
            for row in rows:
                outcome = await self._deliver(row, log, sent)
                outcomes.append(outcome)
                if not outcome.done and outcome.retry_in is not None:
                    break  # keep this chat's order: later rows wait for this one
        return outcomes

    def _shows_a_case_in_the_room(self, row: OutboxRow) -> bool:
        """A case post, alert or case-linked reply (a preview) addressed to the review group."""
        if not self.room_chat_id or row.chat_id != self.room_chat_id:
            return False
        return row.kind in rendering.ROOM_GUARDED_KINDS or (row.kind == kinds.REPLY and row.case_id is not None)

    async def _render(self, row: OutboxRow) -> list[dict[str, Any]]:
        # Checked at every attempt, before parts frozen by an earlier one: a post held back (rate limit,
        # network) while a stranger joined must not go out in full afterwards.
        if self._shows_a_case_in_the_room(row) and (await self.call(room_state, self.db, row.chat_id)).locked:
            if row.progress:  # part of it went out before the lock: send none of the rest
                return list(row.payload.get("parts", []))[: row.progress]
            return rendering.locked_room_notice(row.kind, row.case_id or row.payload.get("case_id"))
        if "parts" in row.payload:
            return row.payload["parts"]
        if row.kind == kinds.REVIEW_REQUEST:
            detail = await self.call(post_detail, self.db, row.case_id, row.payload)  # a safety check: planted
            parts = rendering.review_post(detail, self.texts) if detail else []
            if parts:  # frozen with the post: its buttons act on this draft only (dermvqa.casework.posts)
                parts[-1]["draft_id"] = detail.draft_id
            return parts
        if row.kind == kinds.WITHDRAW_POST:
            return [{"op": "withdraw", **message} for message in row.payload.get("messages", [])]
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

    async def _record(self, outcome: RowOutcome, delivered: list[int], log: ProgressLog | None = None) -> bool:
        """Commit what this attempt did so far; False when the row is gone (its case was deleted)."""
        snapshot = dataclasses.replace(outcome, message_ids=list(outcome.message_ids), delivered=delivered)
        return await (log or self.progress).record(snapshot)

    async def _deliver(
        self, row: OutboxRow, log: ProgressLog | None = None, sent: asyncio.Event | None = None
    ) -> RowOutcome:
        """Deliver one row's remaining parts, recording each as soon as Telegram confirms it (in
        ``log``, the passes' by default); ``sent`` is set once a send is answered, or failed.

        The record is committed before the next send, so a crash repeats at most the send in flight.
        """
        outcome = RowOutcome(row, progress=row.progress, message_ids=list(row.message_ids))
        try:
            outcome.parts = await self._render(row)
            for index in range(row.progress, len(outcome.parts)):
                try:
                    outcome.message_ids.extend(await self._perform(row.chat_id, outcome.parts[index]))
                finally:
                    if sent is not None:
                        sent.set()
                outcome.progress = index + 1
                outcome.done = outcome.progress >= len(outcome.parts)
                outcome.delivered.append(index)
                if not await self._record(outcome, [index], log):
                    logger.info("outbox %s: deleted meanwhile; nothing more of it is sent", row.id)
                    outcome.done = True
                    return outcome
            if not outcome.done:  # nothing (left) to send
                outcome.done = True
                await self._record(outcome, [], log)
        except _RecordFailed:
            raise
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
        if outcome.error is not None:
            await self._record(outcome, [], log)
        if sent is not None:
            sent.set()
        return outcome

    async def _perform(self, chat_id: int, part: dict[str, Any]) -> list[int]:
        op = part["op"]
        if op == "message":
            if "force_reply" in part:
                msg = await self.bot.send_message(
                    chat_id,
                    part["text"],
                    entities=[MessageEntity.de_json(entity, self.bot) for entity in part.get("entities", [])] or None,
                    reply_markup=ForceReply(selective=True, input_field_placeholder=part["force_reply"] or None),
                )
                return [msg.message_id]
            msg = await self.bot.send_message(chat_id, part["text"], reply_markup=keyboard(part.get("buttons")))
            return [msg.message_id]
        if op in ("photo", "document"):
            content = await self._media(part[op])
            caption = rendering.clip(part.get("caption") or "") or None
            markup = keyboard(part.get("buttons"))
            if op == "photo":
                msg = await self.bot.send_photo(chat_id, content, caption=caption, reply_markup=markup)
            else:
                msg = await self.bot.send_document(
                    chat_id, content, caption=caption, reply_markup=markup, filename=_upload_name(content, 1)
                )
            return [msg.message_id]
        if op == "album":
            if part.get("media") == "document":
                contents = [await self._media(ref) for ref in part["photos"]]
                media = [InputMediaDocument(c, filename=_upload_name(c, n)) for n, c in enumerate(contents, 1)]
            else:
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
        if op == "withdraw":
            await self._withdraw(chat_id, part["message_id"], part.get("media", "text"))
            return []
        raise ValueError(f"unknown part op {op!r}")

    async def _withdraw(self, chat_id: int, message_id: int, media: str) -> None:
        """Remove a message of a deleted case's review post: delete it, or, when Telegram refuses
        (messages older than 48 hours, or any other error), replace it with a neutral "Case withdrawn."
        that keeps no photo, no words of the case and no buttons."""
        try:
            await self.bot.delete_message(chat_id, message_id)
            return
        except RetryAfter:
            raise
        except BadRequest as exc:
            if exc.message.lower().startswith("message to delete not found"):
                return
            logger.info("outbox: message %s in chat %s cannot be deleted; blanking it", message_id, chat_id)
        except TelegramError as exc:
            logger.info("outbox: deleting message %s failed (%s); blanking it", message_id, type(exc).__name__)
        try:
            if media == "photo":
                blank = InputMediaPhoto(_withdrawn_photo(), caption=WITHDRAWN_TEXT)
                await self.bot.edit_message_media(blank, chat_id, message_id)
            elif media == "document":
                blank = InputMediaDocument(WITHDRAWN_TEXT.encode(), caption=WITHDRAWN_TEXT, filename="withdrawn.txt")
                await self.bot.edit_message_media(blank, chat_id, message_id)
            else:
                await self.bot.edit_message_text(WITHDRAWN_TEXT, chat_id, message_id)  # no markup: buttons go
        except BadRequest as exc:
            if not exc.message.lower().startswith(_ALREADY_DONE):
                raise

    async def _media(self, ref: dict[str, Any]) -> str | bytes:
        """A photo to send: Telegram's file id when we have it, else the stored bytes."""
        if ref.get("file_id"):
            return ref["file_id"]
        return await asyncio.to_thread(self.store.read, ref["sha256"])  # file I/O, not the database

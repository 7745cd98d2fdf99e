"""Build the bot: python-telegram-bot's Application with our handlers, rate limiter, per-chat
update ordering and the outbox sender.

The Application talks to ``[telegram] base_url`` / ``base_file_url`` (Telegram by default, a local
Bot API server in tests and the demo). The sender runs beside the handlers for as long as the
Application runs.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor, ContextTypes

from bot import conversations
from bot.dbthread import DbThread
from bot.delivery import OutboxSender
from bot.deps import KEY, Deps
from bot.incoming import IncomingRecorder
from bot.replies import reply
from bot.texts import Texts
from dermvqa.config import Config
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore

logger = logging.getLogger(__name__)

PATIENT_COMMANDS = [
    BotCommand("start", "How this service works"),
    BotCommand("done", "Submit the case"),
    BotCommand("status", "Your cases"),
    BotCommand("cancel", "Withdraw your latest case"),
    BotCommand("delete", "Delete all your data"),
    BotCommand("help", "Help"),
]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat (a description is saved before Submit)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: Counter[int] = Counter()  # updates holding or waiting for each chat's lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:  # nobody else waits: forget the chat's lock
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def review_recipients(config: Config) -> list[int]:
    """Where review posts go: the review group, else each clinician privately."""
    return [config.review.chat_id] if config.review.chat_id else list(config.review.clinician_ids)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure by type and code location only (its message may quote a patient), and say sorry."""
    chat = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    where = "".join(traceback.format_tb(context.error.__traceback__)[-3:]) if context.error else ""
    logger.error("handler failed in chat %s: %s\n%s", chat, type(context.error).__name__, where)
    if chat is not None:
        await reply(context, chat, "Sorry, something went wrong on our side. Please try again.")


class BotService:
    """The Application plus the outbox sender, started and stopped together."""

    def __init__(self, config: Config, token: str, db: Database, store: ImageStore | None = None) -> None:
        self.config = config
        self.db = db
        self.store = store or ImageStore(config.storage_dir)
        tg = config.telegram
        limiter = AIORateLimiter(
            overall_max_rate=tg.rate_overall_per_second,
            overall_time_period=1,
            group_max_rate=tg.rate_group_per_minute,
            group_time_period=60,
            max_retries=0,
        )
        self.application = (
            Application.builder()
            .token(token)
            .base_url(tg.base_url)
            .base_file_url(tg.base_file_url)
            .rate_limiter(limiter)
            .connection_pool_size(tg.connection_pool_size)
            .pool_timeout(60.0)  # wait for a free connection rather than fail under a burst
            .concurrent_updates(PerChatUpdateProcessor(tg.concurrent_chats))
            .post_init(self._post_init)
            .post_shutdown(self._post_shutdown)
            .build()
        )
        self.texts = Texts.from_config(config.bot, config.intake)
        self.db_thread = DbThread()
        self.sender = OutboxSender(
            self.application.bot,
            db,
            self.store,
            self.texts,
            review_recipients(config),
            max_attempts=config.bot.outbox_max_attempts,
            poll_seconds=config.bot.outbox_poll_seconds,
            db_thread=self.db_thread,
            concurrency=tg.connection_pool_size,
        )
        self.incoming = IncomingRecorder(self.db_thread, db)
        self.application.bot_data[KEY] = Deps(
            config, db, self.store, self.texts, self.sender.nudge, self.db_thread, self.incoming
        )
        conversations.install(self.application, config.review.clinician_ids)
        self.application.add_error_handler(_on_error)
        self._stop = asyncio.Event()
        self._sender_task: asyncio.Task | None = None
        self._incoming_task: asyncio.Task | None = None

    async def _post_init(self, application: Application) -> None:
        self._stop = asyncio.Event()
        self._sender_task = asyncio.create_task(self.sender.run(self._stop), name="outbox-sender")
        self._incoming_task = asyncio.create_task(self.incoming.run(self._stop), name="incoming-record")
        try:
            await application.bot.set_my_commands(PATIENT_COMMANDS)
        except Exception:
            logger.warning("could not set the command menu")

    async def _post_shutdown(self, application: Application) -> None:
        self._stop.set()
        for task in (self._sender_task, self._incoming_task):
            if task is not None:
                await task
        self._sender_task = self._incoming_task = None
        await self.incoming.flush()
        self.db_thread.close()

    # -- for tests and the demo: run inside an existing event loop ----------------------------

    async def start(self, poll_timeout: float = 1.0) -> None:
        await self.application.initialize()
        await self._post_init(self.application)
        await self.application.start()
        await self.application.updater.start_polling(timeout=poll_timeout, poll_interval=0.0)

    async def stop(self) -> None:
        if self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self._post_shutdown(self.application)
        await self.application.shutdown()

    def run_webhook(self) -> None:
        """Blocking: receive updates on ``[telegram] webhook_listen:webhook_port`` (needs the
        ``webhooks`` extra: ``pip install 'dermbot[webhooks]'``)."""
        tg = self.config.telegram
        self.application.run_webhook(
            listen=tg.webhook_listen,
            port=tg.webhook_port,
            webhook_url=tg.webhook_url,
            allowed_updates=Update.ALL_TYPES,
        )

    def run_polling(self) -> None:
        """Blocking: poll Telegram until SIGINT/SIGTERM (the service's main loop)."""
        self.application.run_polling(timeout=self.config.telegram.poll_timeout_s, allowed_updates=Update.ALL_TYPES)

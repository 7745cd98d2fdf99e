"""Build the bot: python-telegram-bot's Application with our handlers, rate limiter, per-chat
update ordering and the outbox sender.

The Application talks to ``[telegram] base_url`` / ``base_file_url`` (Telegram by default, a local
Bot API server in tests and the demo). The sender runs beside the handlers for as long as the
Application runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from telegram import BotCommand, Update
from telegram.ext import Application, ContextTypes

from bot import conversations
from bot.builder import PerChatUpdateProcessor, application_builder
from bot.dbprocess import DbProcess
from bot.dbthread import DbRunner, DbThread
from bot.delivery import OutboxSender
from bot.deps import KEY, Deps
from bot.heap import IdleCollector, settle_heap
from bot.incoming import IncomingRecorder
from bot.replies import reply
from bot.room import RoomGuard
from bot.roster import ClinicianRoster
from bot.submissions import SubmitBatcher
from bot.texts import Texts
from bot.watchdog import Watchdog
from bot.webhook import GUARDED_LOGGERS, WebhookLogGuard, WebhookSettings, read_secret, refusal_reason, webhook_settings
from bot.writes import SharedWrites
from dermvqa.config import Config
from dermvqa.errors import ConfigError
from dermvqa.storage.database import Database, sqlite_path
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key

logger = logging.getLogger(__name__)

PATIENT_COMMANDS = [
    BotCommand("start", "How this service works"),
    BotCommand("done", "Submit the case"),
    BotCommand("status", "Your cases"),
    BotCommand("cancel", "Withdraw your latest case"),
    BotCommand("privacy", "What you agreed to, how long data is kept"),
    BotCommand("delete", "Delete all your data"),
    BotCommand("help", "Help"),
]


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure by type and code location only (its message may quote a patient), and say sorry."""
    chat = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    where = "".join(traceback.format_tb(context.error.__traceback__)[-3:]) if context.error else ""
    logger.error("handler failed in chat %s: %s\n%s", chat, type(context.error).__name__, where)
    if chat is not None:
        await reply(context, chat, "Sorry, something went wrong on our side. Please try again.")


def _log_webhook_request(app: object, handler: Any) -> None:
    """Log a refused webhook request by status alone: no path, header, body or address."""
    status = handler.get_status()
    if status >= 400:
        logger.warning("webhook: refused a request: HTTP %d (%s); nothing handled", status, refusal_reason(status))


def _install_refusal_log() -> None:
    """python-telegram-bot 22's webhook app logs no requests (its ``log_request`` is a no-op, and it
    logs a refused token only at debug level, quoting it): log the refusals, content-free."""
    from telegram.ext._utils.webhookhandler import WebhookAppClass

    WebhookAppClass.log_request = _log_webhook_request  # type: ignore[method-assign]


def _db_runner(config: Config, db: Database, store: ImageStore) -> DbRunner:
    """The database process (started with the service), or a thread where a process cannot share
    the database: switched off, or an in-memory SQLite database."""
    in_memory = make_url(db.url).get_backend_name() == "sqlite" and sqlite_path(db.url) is None
    return DbProcess(db, store) if config.bot.database_process and not in_memory else DbThread()


class BotService:
    """The Application plus the outbox sender, started and stopped together."""

    def __init__(
        self,
        config: Config,
        token: str,
        db: Database,
        store: ImageStore | None = None,
        *,
        config_path: str | Path | None = None,
        settles_heap: bool = False,
    ) -> None:
        self.config = config
        self.settles_heap = settles_heap  # the service process only (bot/heap.py), never a test's
        self.roster = ClinicianRoster(config, config_path)  # reloaded on SIGHUP or a changed file
        self.db = db
        self.store = store or ImageStore(config.storage_dir, load_data_key(config))
        tg = config.telegram
        self.application = (
            application_builder(token, tg).post_init(self._post_init).post_shutdown(self._post_shutdown).build()
        )
        self.texts = Texts.from_config(config.bot, config.intake, config.retention)
        self.db_thread = _db_runner(config, db, self.store)
        self.writes = SharedWrites(self.db_thread, db)  # Submit batches, delivery and incoming records
        self.sender = OutboxSender(
            self.application.bot,
            db,
            self.store,
            self.texts,
            self.roster.recipients(),
            max_attempts=config.bot.outbox_max_attempts,
            poll_seconds=config.bot.outbox_poll_seconds,
            db_thread=self.db_thread,
            writes=self.writes,
            concurrency=tg.connection_pool_size,
        )
        self.incoming = IncomingRecorder(self.writes)
        self.watchdog = Watchdog(db, config.review.alert_after, self.db_thread, self.sender.nudge)
        self.sender.room_chat_id = config.review.chat_id
        deps = Deps(
            config,
            db,
            self.store,
            self.texts,
            self.sender.nudge,
            self.sender.deliver_now,
            self.db_thread,
            self.incoming,
            self.roster,
            SubmitBatcher(self.writes, config.intake, config.worker.max_attempts),
            self.sender.reserve,
        )
        self.application.bot_data[KEY] = self.deps = deps
        conversations.install(self.application, self.roster.filter, config.review.chat_id)
        review = config.review
        self.room_guard = (
            RoomGuard(self.application.bot, deps, self.roster, review.chat_id, 60 * review.room_check_minutes)
            if review.chat_id
            else None
        )
        self.roster.on_change(self._clinicians_changed)
        self._side_tasks: list[asyncio.Task] = []
        self.application.add_error_handler(_on_error)
        self._stop = asyncio.Event()
        self._sender_task: asyncio.Task | None = None
        self._incoming_task: asyncio.Task | None = None
        self._webhook: WebhookSettings | None = None
        self._log_guard: WebhookLogGuard | None = None
        if config.telegram.mode == "webhook":
            self.webhook_settings()  # a bad DERMBOT_WEBHOOK_SECRET fails now, before anything runs

    def _clinicians_changed(self, roster: ClinicianRoster) -> None:
        self.sender.recipients = roster.recipients()
        if self.room_guard is not None:
            self.room_guard.recheck()

    async def _post_init(self, application: Application) -> None:
        if isinstance(self.db_thread, DbProcess):
            await self.db_thread.start()  # a database it cannot open fails the start here
        self._stop = asyncio.Event()
        self._sender_task = asyncio.create_task(self.sender.run(self._stop), name="outbox-sender")
        self._incoming_task = asyncio.create_task(self.incoming.run(self._stop), name="incoming-record")
        self._side_tasks = [asyncio.create_task(self.roster.watch(self._stop), name="clinician-roster")]
        if self.room_guard is not None:
            self._side_tasks.append(asyncio.create_task(self.room_guard.run(self._stop), name="review-room"))
        self._side_tasks.append(asyncio.create_task(self.watchdog.run(self._stop), name="watchdog"))
        try:
            await application.bot.set_my_commands(PATIENT_COMMANDS)
        except Exception:
            logger.warning("could not set the command menu")
        if self.settles_heap:
            settle_heap()  # started: what lives now lives as long as the process
            collector = IdleCollector(self._busy)
            self._side_tasks.append(asyncio.create_task(collector.run(self._stop), name="idle-collector"))

    def _busy(self) -> bool:
        """Updates waiting or being handled (the idle collector waits for none)."""
        processor = self.application.update_processor
        in_flight = processor.in_flight if isinstance(processor, PerChatUpdateProcessor) else 0
        return in_flight > 0 or self.application.update_queue.qsize() > 0

    async def _post_shutdown(self, application: Application) -> None:
        self._stop.set()
        logger.info(
            "stopping: %d submit batches and %d delivery-record batches written in %d shared transactions since start"
            " (%d writes rode with another)",
            self.deps.submissions.transactions,
            self.sender.progress.commits + self.sender.direct_progress.commits,
            self.writes.transactions,
            self.writes.rides,
        )
        for task in (self._sender_task, self._incoming_task, *self._side_tasks):
            if task is not None:
                await task
        self._sender_task = self._incoming_task = None
        self._side_tasks = []
        await self.incoming.flush()
        await self.deps.downloads.aclose()
        self.db_thread.close()

    # -- for tests and the demo: run inside an existing event loop ----------------------------

    async def start(self, poll_timeout: float = 1.0) -> None:
        await self.application.initialize()
        await self._post_init(self.application)
        await self.application.start()
        await self.application.updater.start_polling(timeout=poll_timeout, poll_interval=0.0)

    async def start_webhook(self) -> None:
        """:meth:`start` in webhook mode: the listener of :meth:`run_webhook`, same arguments."""
        await self.application.initialize()
        await self._post_init(self.application)
        await self.application.start()
        await self.application.updater.start_webhook(**self._webhook_arguments())

    async def stop(self) -> None:
        if self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self._post_shutdown(self.application)
        await self.application.shutdown()
        self._remove_log_guard()

    # -- webhook mode (bot/webhook.py: the secret and the path) ---------------------------------

    def webhook_settings(self) -> WebhookSettings:
        """The listener's settings, with the secret read (or drawn) once per service."""
        if importlib.util.find_spec("tornado") is None:  # python-telegram-bot's webhook server needs it
            raise ConfigError("[telegram] mode = \"webhook\" needs the webhooks extra: pip install 'dermbot[webhooks]'")
        if self._webhook is None:
            self._webhook = webhook_settings(self.config.telegram, read_secret(os.environ))
        return self._webhook

    def _webhook_arguments(self) -> dict[str, Any]:
        """``start_webhook``/``run_webhook`` arguments; installs the refusal log and the log guard."""
        settings = self.webhook_settings()
        _install_refusal_log()
        if self._log_guard is None:
            self._log_guard = WebhookLogGuard(settings)
            for name in GUARDED_LOGGERS:
                logging.getLogger(name).addFilter(self._log_guard)
        logger.info("webhook listener on %s:%d (secret token required)", settings.listen, settings.port)
        return {
            "listen": settings.listen,
            "port": settings.port,
            "url_path": settings.url_path,
            "webhook_url": settings.webhook_url,
            "secret_token": settings.secret_token,
            "allowed_updates": Update.ALL_TYPES,
        }

    def _remove_log_guard(self) -> None:
        if self._log_guard is not None:
            for name in GUARDED_LOGGERS:
                logging.getLogger(name).removeFilter(self._log_guard)
            self._log_guard = None

    def run_webhook(self) -> None:
        """Blocking: receive updates on ``[telegram] webhook_listen:webhook_port`` (needs the
        ``webhooks`` extra: ``pip install 'dermbot[webhooks]'``); Telegram is told the public URL
        and the secret token with setWebhook, and requests without the token get 403."""
        try:
            self.application.run_webhook(**self._webhook_arguments())
        finally:
            self._remove_log_guard()

    def run_polling(self) -> None:
        """Blocking: poll Telegram until SIGINT/SIGTERM (the service's main loop)."""
        self.application.run_polling(timeout=self.config.telegram.poll_timeout_s, allowed_updates=Update.ALL_TYPES)

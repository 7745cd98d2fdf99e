"""What every handler needs, built once per process and kept in ``application.bot_data``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from telegram.ext import ContextTypes

from bot.dbthread import DbRunner
from bot.download import Downloader
from bot.texts import Texts
from dermvqa.config import Config
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore

if TYPE_CHECKING:
    from bot.incoming import IncomingRecorder
    from bot.roster import ClinicianRoster
    from bot.submissions import SubmitBatcher

T = TypeVar("T")
KEY = "deps"


@dataclass(frozen=True)
class Deps:
    config: Config
    db: Database
    store: ImageStore
    texts: Texts
    nudge: Callable[[], None]  # wake the outbox sender after writing to the outbox
    # send outbox rows just committed for one chat now, without waiting for the sender's next pass
    deliver_now: Callable[..., Awaitable[None]]  # (rows, *, reserved=chat)
    db_thread: DbRunner  # the database thread or process
    incoming: IncomingRecorder
    roster: ClinicianRoster  # the live clinician list (reloaded without a restart)
    submissions: SubmitBatcher  # Submit presses, group-committed
    # hold a chat against outbox passes while its rows are written and sent directly (a context manager)
    reserve_chat: Callable[[int], AbstractContextManager[None]] = lambda _chat: nullcontext()
    downloads: Downloader = field(default_factory=Downloader)  # one HTTP client for patients' files

    def is_clinician(self, user_id: int | None) -> bool:
        return self.roster.is_clinician(user_id)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking core function (a database transaction) in the bot's database process (or on
        its database thread, where the process is switched off)."""
        return await self.db_thread(fn, *args, **kwargs)


def deps(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    return context.application.bot_data[KEY]

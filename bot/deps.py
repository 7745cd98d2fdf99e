"""What every handler needs, built once per process and kept in ``application.bot_data``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram.ext import ContextTypes

from bot.texts import Texts
from dermvqa.config import Config
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore

T = TypeVar("T")
KEY = "deps"


@dataclass(frozen=True)
class Deps:
    config: Config
    db: Database
    store: ImageStore
    texts: Texts
    nudge: Callable[[], None]  # wake the outbox sender after writing to the outbox

    def is_clinician(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.config.review.clinician_ids

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking core function (a database transaction) off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)


def deps(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    return context.application.bot_data[KEY]

"""The python-telegram-bot Application as this service builds it: one place for the builder settings
(endpoint, rate limiter, connection pool, per-chat update order), so the bot and the bare framework
bot of ``bench/bot_load.py --variant bare`` cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseUpdateProcessor

from dermvqa.config import TelegramConfig


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat (a description is saved before Submit).

    An update waits for its chat's turn *before* taking one of the ``max_concurrent_updates`` slots:
    one chat's flood of queued updates holds a single slot and cannot make other chats wait (PTB's
    default takes the slot first, so 60 queued files of one patient held all 16: bench/flood.py).
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: Counter[int] = Counter()  # updates holding or waiting for each chat's lock
        self.in_flight = 0  # updates received and not yet handled (bot.heap collects when none are)

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await self.do_process_update(update, coroutine)  # slots are taken below, after the chat's lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        self.in_flight += 1
        if chat is None:
            try:
                async with self._slots:
                    await coroutine
            finally:
                self.in_flight -= 1
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            self.in_flight -= 1
            self._users[chat.id] -= 1
            if not self._users[chat.id]:  # nobody else waits: forget the chat's lock
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def application_builder(token: str, tg: TelegramConfig) -> ApplicationBuilder:
    """The builder with every setting that shapes the bot's speed; callers add their hooks and build."""
    limiter = AIORateLimiter(
        overall_max_rate=tg.rate_overall_per_second,
        overall_time_period=1,
        group_max_rate=tg.rate_group_per_minute,
        group_time_period=60,
        max_retries=0,
    )
    return (
        Application.builder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .rate_limiter(limiter)
        .connection_pool_size(tg.connection_pool_size)
        .pool_timeout(60.0)  # wait for a free connection rather than fail under a burst
        .concurrent_updates(PerChatUpdateProcessor(tg.concurrent_chats))
    )

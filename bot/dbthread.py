"""One thread for the bot's database work, where the database process (:mod:`bot.dbprocess`, the
default) is switched off or cannot share the database (an in-memory SQLite database).

Handlers and the sender call blocking core functions (SQLAlchemy transactions). Running them all
on one thread keeps the event loop free and means the bot's own transactions never contend for
SQLite's write lock with each other (contention is resolved by sleeping, which costs milliseconds
each time); other processes (workers) still share the database normally.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class DbRunner(Protocol):
    """Where the bot's blocking database calls run, one at a time and in order: this thread, or the
    database process (:class:`bot.dbprocess.DbProcess`)."""

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def close(self) -> None: ...


class DbThread:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bot-db")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)

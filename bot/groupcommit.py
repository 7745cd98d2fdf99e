"""A group commit: items queued while one write runs go into the next write, together.

The bot's hot writes (Submit presses, delivery records) are short transactions on its one database
thread; a crowd would otherwise queue one transaction per item. Each caller waits for its own
item's result; no timer is needed (``window`` optionally lets items that complete within the same
milliseconds share a write, and ``crowd_window`` lets a crowd's batches grow while one is arriving).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """``commit(items)`` writes a batch and returns one result per item, in order; a result that is
    an exception is raised to that item's caller. When ``commit`` raises, every caller of the batch
    gets the exception."""

    def __init__(
        self,
        commit: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        name: str,
        window: float = 0.0,
        crowd_window: float = 0.0,
        settle: bool = False,
    ) -> None:
        """``crowd_window``: after a batch of more than one item (a crowd is arriving), wait this
        long before taking the next, so that it gathers more: each write has a fixed cost (a
        transaction, a commit). A lone item, or the first of a crowd, waits for nothing.
        ``settle``: before taking each batch, let the tasks the last commit woke run first, so
        that what they hand over at once (a group commit above this one, with its next batch) goes
        into this batch rather than the one after."""
        self._commit, self.name, self.window, self.settle = commit, name, window, settle
        self.crowd_window = crowd_window
        self._crowded = False  # the last batch held more than one item
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task | None = None
        self.commits = 0  # writes that succeeded (for tests and benchmarks)

    async def add(self, item: T) -> R:
        """Queue ``item`` for the next write and wait for its result."""
        return await self.put(item)

    def put(self, item: T) -> asyncio.Future[R]:
        """Queue ``item`` for the next write; its result (or exception) comes in the future returned."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name=self.name)
        return future

    async def _write(self) -> None:
        try:
            while self._waiting:
                await self._write_next()
        except asyncio.CancelledError:  # (shutdown) while gathering a batch: its callers are cancelled too
            waiting, self._waiting = self._waiting, []
            for _, future in waiting:
                future.cancel()
            raise
        finally:
            self._crowded = False  # nothing came while the last batch was written: the crowd is over

    async def _write_next(self) -> None:
        wait = max(self.window, self.crowd_window if self._crowded else 0.0)
        if wait or self.settle:
            await asyncio.sleep(wait)  # (0: one turn of the event loop)
        batch, self._waiting = self._waiting, []
        self._crowded = len(batch) > 1
        try:
            results: Sequence[R | BaseException] = await self._commit([item for item, _ in batch])
        except Exception as exc:  # the write failed: every item of this batch hears of it
            results = [exc] * len(batch)
        except BaseException:  # this task was cancelled (shutdown): so are the batch's callers
            for _, future in batch:
                future.cancel()
            raise
        else:
            self.commits += 1
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled (shutdown)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

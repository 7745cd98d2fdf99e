"""The bot's hot writes share transactions: Submit batches, delivery records, the incoming record.

Each of them is already a group commit of its own (``bot.submissions``, ``bot.delivery.ProgressLog``,
``bot.incoming``); this is one more, underneath, across them: writes handed over while a shared
transaction runs go into the next one together (``dermvqa.storage.shared_writes``). In a crowd of
Submits the database process then commits a batch of presses, the records of the acknowledgements
just sent and the last incoming messages at once, instead of three transactions with three round
trips. A lone write waits for nothing but its own transaction (no timer).

A write nobody waits on at once (the record of an acknowledgement already sent, the incoming
record) can *ride* (:meth:`SharedWrites.ride`): it starts no transaction of its own for a few
milliseconds and goes with the next one another write starts meanwhile. In a crowd, a Submit batch
starts every 10-20 ms (``bot.submissions``), well within a rider's wait, so those records cost no
transaction at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.dbthread import DbRunner
from bot.groupcommit import GroupCommit
from dermvqa.storage.database import Database
from dermvqa.storage.shared_writes import Failed, Write, write_together


class SharedWrites:
    """``await writes(fn, *args, **kwargs)`` runs ``fn(session, *args, **kwargs)`` in a transaction
    shared with the writes handed over meanwhile, and returns its result (or raises its error)."""

    def __init__(self, call: DbRunner, db: Database) -> None:
        self.call, self.db = call, db
        # settle: a Submit batch woken by this commit's results hands over its next batch at once
        # (unless it waits to gather a crowd: bot.submissions)
        self._group: GroupCommit[Write, Any] = GroupCommit(self._commit, name="shared-writes", settle=True)
        self._riders: list[tuple[Write, asyncio.Future]] = []
        self._departure: asyncio.TimerHandle | None = None  # when the riders go on their own
        self.rides = 0  # riders that went with another write's transaction (for tests and benchmarks)

    @property
    def transactions(self) -> int:  # for tests and benchmarks
        return self._group.commits

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self._group.add(Write(fn, args, kwargs))

    async def ride(self, wait: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """As calling this object, but the write starts no transaction for up to ``wait`` seconds: it
        goes with the next shared transaction another write starts meanwhile, else in one of its
        own once ``wait`` has passed. Its result and errors are its own, as for any write."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._riders.append((Write(fn, args, kwargs), future))
        if self._departure is None or loop.time() + wait < self._departure.when():  # the shortest wait
            if self._departure is not None:
                self._departure.cancel()
            self._departure = loop.call_later(wait, self._depart)
        return await future

    def _take_riders(self) -> list[tuple[Write, asyncio.Future]]:
        riders, self._riders = self._riders, []
        if self._departure is not None:
            self._departure.cancel()
            self._departure = None
        return riders

    def _depart(self) -> None:
        """Nobody else wrote in time: the riders go in a transaction of their own."""
        self._departure = None
        for write, future in self._take_riders():
            _forward(self._group.put(write), future)

    async def _commit(self, writes: list[Write]) -> list[Any]:
        riders = self._take_riders()
        try:
            results = await self.call(write_together, self.db, writes + [write for write, _ in riders])
        except Exception as exc:
            for _, future in riders:
                if not future.done():
                    future.set_exception(exc)
            raise
        except BaseException:  # cancelled (shutdown): so are the riders
            for _, future in riders:
                future.cancel()
            raise
        self.rides += len(riders)
        for (_, future), result in zip(riders, results[len(writes) :], strict=True):
            if not future.done():  # (its caller was cancelled)
                _settle(future, result.error if isinstance(result, Failed) else result)
        return [r.error if isinstance(r, Failed) else r for r in results[: len(writes)]]


def _settle(future: asyncio.Future, result: Any) -> None:
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _forward(source: asyncio.Future, target: asyncio.Future) -> None:
    """``target`` gets ``source``'s outcome once it has one (nothing if ``target`` was cancelled)."""

    def copy(done: asyncio.Future) -> None:
        if done.cancelled():
            target.cancel()
            return
        error = done.exception()  # (retrieved even when nobody waits on ``target`` any more)
        if not target.done():
            _settle(target, error if error is not None else done.result())

    source.add_done_callback(copy)

"""The bot's hot writes share transactions: Submit batches, delivery records, the incoming record.

Each of them is already a group commit of its own (``bot.submissions``, ``bot.delivery.ProgressLog``,
``bot.incoming``); this is one more, underneath, across them: writes handed over while a shared
transaction runs go into the next one together (``dermvqa.storage.shared_writes``). In a crowd of
Submits the database process then commits a batch of presses, the records of the acknowledgements
just sent and the last incoming messages at once, instead of three transactions with three round
trips. A lone write waits for nothing but its own transaction (no timer).
"""

from __future__ import annotations

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
        self._group: GroupCommit[Write, Any] = GroupCommit(self._commit, name="shared-writes", settle=True)

    @property
    def transactions(self) -> int:  # for tests and benchmarks
        return self._group.commits

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self._group.add(Write(fn, args, kwargs))

    async def _commit(self, writes: list[Write]) -> list[Any]:
        results = await self.call(write_together, self.db, writes)
        return [r.error if isinstance(r, Failed) else r for r in results]

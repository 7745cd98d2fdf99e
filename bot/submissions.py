"""Submits share transactions: a group commit for a crowd pressing Submit at once.

Each press waits for the next write; presses arriving while one write runs go together into the
one after it, so a burst of 200 costs a dozen transactions, not 200, and a lone press waits for
nothing but its own (no timer). Each press keeps its own result: its case, its acknowledgement
rows (written in the transaction that queues the case) or why it was refused.
"""

from __future__ import annotations

import asyncio
import logging

from bot.dbthread import DbThread
from dermvqa.casework import intake
from dermvqa.casework.intake import Refusal, Submitted
from dermvqa.config import IntakeConfig
from dermvqa.storage.database import Database

logger = logging.getLogger(__name__)


class SubmitBatcher:
    def __init__(self, call: DbThread, db: Database, limits: IntakeConfig, max_attempts: int) -> None:
        self.call, self.db, self.limits, self.max_attempts = call, db, limits, max_attempts
        self._waiting: list[tuple[int, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        self.transactions = 0  # for tests and benchmarks

    async def submit(self, user_id: int) -> Submitted | Refusal:
        """Submit this user's open case (see :func:`dermvqa.casework.intake.submit_many`)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((user_id, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="submit-batch")
        return await future

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                users = [user for user, _ in batch]
                results = await self.call(
                    intake.submit_many, self.db, users, self.limits, max_attempts=self.max_attempts
                )
                self.transactions += 1
            except Exception as exc:  # the database failed: every press of this batch hears of it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its handler was cancelled (shutdown)
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

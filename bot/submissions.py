"""Submits share transactions: a group commit for a crowd pressing Submit at once.

Each press waits for the next write; presses arriving while one write runs go together into the
one after it, so a burst of 200 costs a dozen transactions, not 200, and a lone press waits for
nothing but its own (no timer). Each press keeps its own result: its case, its acknowledgement
rows (written in the transaction that queues the case) or why it was refused.
"""

from __future__ import annotations

import logging

from bot.dbthread import DbRunner
from bot.groupcommit import GroupCommit
from dermvqa.casework import intake
from dermvqa.casework.intake import Refusal, Submitted
from dermvqa.config import IntakeConfig
from dermvqa.storage.database import Database

logger = logging.getLogger(__name__)


class SubmitBatcher:
    def __init__(self, call: DbRunner, db: Database, limits: IntakeConfig, max_attempts: int) -> None:
        self.call, self.db, self.limits, self.max_attempts = call, db, limits, max_attempts
        self._group: GroupCommit[int, Submitted | Refusal] = GroupCommit(self._commit, name="submit-batch")

    @property
    def transactions(self) -> int:  # for tests and benchmarks
        return self._group.commits

    async def submit(self, user_id: int) -> Submitted | Refusal:
        """Submit this user's open case (see :func:`dermvqa.casework.intake.submit_many`)."""
        return await self._group.add(user_id)

    async def _commit(self, users: list[int]) -> list[Submitted | Refusal | PermissionError]:
        return await self.call(intake.submit_many, self.db, users, self.limits, max_attempts=self.max_attempts)

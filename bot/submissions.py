"""Submits share transactions: a group commit for a crowd pressing Submit at once.

Each press waits for the next write; presses arriving while one write runs go together into the
one after it, so a burst of 200 costs a dozen transactions, not 200, and a lone press waits for
nothing but its own (no timer). Each press keeps its own result: its case, its acknowledgement
rows (written in the transaction that queues the case) or why it was refused.

While a crowd arrives (the last batch held more than one press), the next batch waits
``CROWD_WINDOW_S`` to gather more: a transaction's commit has a fixed cost, on the encrypted file
about 21 pages encrypted and authenticated whatever the batch's size (``bench/bot_load.py``: half the
batches, and less CPU in the database process, for 10 ms on a press's wait).
"""

from __future__ import annotations

import logging

from bot.groupcommit import GroupCommit
from bot.writes import SharedWrites
from dermvqa.casework import intake
from dermvqa.casework.intake import Refusal, Submitted
from dermvqa.config import IntakeConfig

logger = logging.getLogger(__name__)

CROWD_WINDOW_S = 0.01


class SubmitBatcher:
    def __init__(self, writes: SharedWrites, limits: IntakeConfig, max_attempts: int) -> None:
        self.writes, self.limits, self.max_attempts = writes, limits, max_attempts
        self._group: GroupCommit[int, Submitted | Refusal] = GroupCommit(
            self._commit, name="submit-batch", crowd_window=CROWD_WINDOW_S
        )

    @property
    def transactions(self) -> int:  # for tests and benchmarks
        return self._group.commits

    async def submit(self, user_id: int) -> Submitted | Refusal:
        """Submit this user's open case (see :func:`dermvqa.casework.intake.submit_many`)."""
        return await self._group.add(user_id)

    async def _commit(self, users: list[int]) -> list[Submitted | Refusal | PermissionError]:
        # (its transaction shared with the delivery records and incoming record handed over meanwhile)
        return await self.writes(intake.submit_many_in, users, self.limits, max_attempts=self.max_attempts)

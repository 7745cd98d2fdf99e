"""The watchdog: nothing waits unseen.

A periodic task beside the outbox sender. Each tick queues, through the outbox, one report to the
review recipients for each case waiting longer than ``[review] alert_after_minutes`` in a state that
is not final, and for each message that failed for good (rules: :mod:`dermvqa.casework.watchdog`;
transactions: :mod:`dermvqa.casework.alerts`). A report is made once: its key is the outbox row's
``dedupe_key``, so a restart does not repeat it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from bot.dbthread import DbRunner
from bot.wake import wait_stop
from dermvqa.casework.alerts import raise_alerts
from dermvqa.storage.database import Database
from dermvqa.storage.models import utcnow

logger = logging.getLogger(__name__)


def tick_seconds(after: dt.timedelta) -> float:
    """How often to look: a quarter of the alert limit, between 0.2 s and 15 s (a failed message is
    reported within seconds; the look is two indexed queries)."""
    return min(15.0, max(0.2, after.total_seconds() / 4))


class Watchdog:
    def __init__(self, db: Database, after: dt.timedelta, call: DbRunner, nudge: Callable[[], None]) -> None:
        self.db, self.after, self.call, self.nudge = db, after, call, nudge
        self.interval = tick_seconds(after)

    async def check(self) -> int:
        """One look; returns how many reports were queued (and wakes the sender for them)."""
        queued = await self.call(raise_alerts, self.db, utcnow(), self.after)
        if queued:
            self.nudge()
        return queued

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception as exc:  # the database is away: try again on the next tick
                logger.error("watchdog check failed: %s", type(exc).__name__)
            await wait_stop(stop, self.interval)

"""The bot process's garbage collector, set for a long-running server with a large start-up heap.

After start-up the bot holds some 130,000 objects that live as long as the process (modules, the
SQLAlchemy metadata, python-telegram-bot's classes); a full collection walks all of them (26-90 ms
each on this machine, measured with ``gc.callbacks`` during ``bench/bot_load.py``), and with the
interpreter's defaults several ran per run, at random moments, sometimes inside a burst of Submits.
So, once started (:func:`settle_heap`):

- ``gc.freeze()`` moves the start-up heap into the permanent generation, which every later
  collection ignores (refcounting still frees those objects);
- the young generation is collected every 50,000 allocations instead of 700: most of a request's
  objects die by refcount before that, so fewer survive into (and are walked again in) the older
  generations;
- :class:`IdleCollector` collects when no update is being handled, so a burst of updates rarely
  pays for a collection at all; the thresholds stay as the bound under sustained load.

Only cyclic garbage (httpx responses and requests form cycles) waits longer: some megabytes at most.
``bench/bot_load.py`` measures the effect. The bot's database process (``bot/dbprocess.py``) settles
its heap the same way once its database is open; the worker keeps the defaults (its time is in the
model).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

from bot.wake import wait_stop

logger = logging.getLogger(__name__)

# (young, middle, old): allocations before a young collection, then young collections before a
# middle one and middle ones before a full one (the interpreter's defaults: 700, 10, 10).
SERVER_THRESHOLDS = (50_000, 20, 20)


def settle_heap(thresholds: tuple[int, int, int] = SERVER_THRESHOLDS) -> int:
    """Collect once, freeze what survived start-up and raise the thresholds; returns the number of
    objects frozen. Call once, when the bot has started (never in a test process: it would keep the
    tests' objects out of every later collection)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    frozen = gc.get_freeze_count()
    logger.info("heap settled: %d start-up objects frozen, collection thresholds %s", frozen, thresholds)
    return frozen


class IdleCollector:
    """Collects the young generations while the bot is idle, a full collection now and then.

    ``busy()`` says whether updates are waiting or being handled; it is asked every ``every``
    seconds, and a collection runs only when it has said no twice in a row (a crowd's updates
    arrive with gaps of milliseconds) and at least ``min_pending`` objects were allocated since the
    last one.
    """

    def __init__(
        self,
        busy: Callable[[], bool],
        *,
        every: float = 0.05,
        min_pending: int = 5_000,
        full_every: float = 60.0,
    ) -> None:
        self.busy, self.every, self.min_pending, self.full_every = busy, every, min_pending, full_every
        self.collections = 0  # for tests

    async def run(self, stop: asyncio.Event) -> None:
        idle_before, last_full = False, time.monotonic()
        while not stop.is_set():
            await wait_stop(stop, self.every)
            idle = not self.busy()
            if idle and idle_before:
                if time.monotonic() - last_full >= self.full_every:
                    gc.collect()
                    last_full = time.monotonic()
                    self.collections += 1
                elif gc.get_count()[0] >= self.min_pending:
                    gc.collect(1)
                    self.collections += 1
            idle_before = idle

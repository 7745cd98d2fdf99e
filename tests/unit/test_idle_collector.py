"""bot.heap.IdleCollector: collects only when the bot has been idle for two checks in a row."""

from __future__ import annotations

import asyncio
import gc

from bot.heap import IdleCollector


class Garbage:
    def __init__(self) -> None:
        self.me = self  # a cycle: only a collection frees it


async def run_for(collector: IdleCollector, seconds: float, allocate: bool) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    for _ in range(int(seconds / 0.01)):
        if allocate:
            for _ in range(400):
                Garbage()
        await asyncio.sleep(0.01)
    stop.set()
    await task


async def test_a_busy_bot_is_never_collected_by_it():
    collector = IdleCollector(lambda: True, every=0.01, min_pending=100)
    await run_for(collector, 0.3, allocate=True)
    assert collector.collections == 0


async def test_an_idle_bot_is_collected_once_enough_was_allocated():
    thresholds = gc.get_threshold()
    gc.set_threshold(10**6, 10, 10)  # no automatic collection resets the count meanwhile
    try:
        quiet = IdleCollector(lambda: False, every=0.01, min_pending=10**7)
        await run_for(quiet, 0.2, allocate=True)
        assert quiet.collections == 0  # idle, but not enough allocated to be worth it
        collector = IdleCollector(lambda: False, every=0.01, min_pending=1_000)
        await run_for(collector, 0.3, allocate=True)
        assert collector.collections > 0
    finally:
        gc.set_threshold(*thresholds)


async def test_one_busy_check_in_between_defers_the_collection():
    answers = iter([False, True] * 100)  # never idle twice in a row
    collector = IdleCollector(lambda: next(answers, True), every=0.01, min_pending=1)
    await run_for(collector, 0.3, allocate=True)
    assert collector.collections == 0

"""The bot's background loops (outbox sender, clinician roster, review room, watchdog, incoming
record, idle collector) sleep the same way: until they are stopped, woken for new work, or their
polling interval passes."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_either(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Sleep until ``stop`` or ``wake`` is set, or ``timeout`` seconds pass."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()


async def wait_stop(stop: asyncio.Event, timeout: float) -> None:
    """Sleep until ``stop`` is set or ``timeout`` seconds pass."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout)

"""bot.groupcommit.GroupCommit: items arriving while a write runs share the next write; each caller
gets its own result or exception."""

from __future__ import annotations

import asyncio

import pytest

from bot.groupcommit import GroupCommit


class Writes:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def commit(self, items: list[int]) -> list:
        self.batches.append(items)
        await asyncio.sleep(0.01)  # the database thread at work: later items queue meanwhile
        if self.fail:
            raise RuntimeError("database is locked")
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_items_queued_during_a_write_share_the_next_and_get_their_own_results():
    writes = Writes()
    group = GroupCommit(writes.commit, name="test")
    first = asyncio.ensure_future(group.add(0))
    await asyncio.sleep(0)  # the first write has started
    rest = [asyncio.ensure_future(group.add(i)) for i in (2, 4, 3)]
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert writes.batches == [[0], [2, 4, 3]] and group.commits == 2
    assert results[:3] == [0, 20, 40]
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"  # only its own caller


async def test_a_failed_write_reaches_every_caller_of_its_batch_and_is_not_counted():
    group = GroupCommit(Writes(fail=True).commit, name="test")
    results = await asyncio.gather(*(group.add(i) for i in (0, 2)), return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError] and group.commits == 0


async def test_a_window_lets_items_of_the_same_moment_share_the_first_write():
    writes = Writes()
    group = GroupCommit(writes.commit, name="test", window=0.01)
    first = asyncio.ensure_future(group.add(0))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(group.add(2))
    assert await asyncio.gather(first, second) == [0, 20]
    assert writes.batches == [[0, 2]]


async def test_a_cancelled_caller_does_not_stop_the_others():
    group = GroupCommit(Writes().commit, name="test")
    gone = asyncio.ensure_future(group.add(0))
    kept = asyncio.ensure_future(group.add(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == 20
    with pytest.raises(asyncio.CancelledError):
        await gone

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


async def test_settle_lets_a_group_above_woken_by_a_commit_join_the_next_batch():
    # Two group commits stacked, as bot.writes.SharedWrites under the Submit batcher: the upper
    # group's next batch, handed over as soon as the lower commit's results wake it, goes into the
    # lower group's next write with what another writer queued meanwhile; without ``settle`` the
    # lower group starts that write alone and the upper batch waits for the one after.
    for settle, expected in ((True, [[1002], [6, 1004]]), (False, [[1002], [6], [1004]])):
        batches: list[list[int]] = []
        gate = asyncio.Event()

        async def lower_commit(items: list[int], batches=batches, gate=gate) -> list:
            batches.append(items)
            await gate.wait()  # the first write runs until the test has queued the rest
            return [i * 10 for i in items]

        lower = GroupCommit(lower_commit, name="shared", settle=settle)

        async def upper_commit(items: list[int], lower=lower) -> list:
            return [await lower.add(1000 + sum(items))]

        upper = GroupCommit(upper_commit, name="submits")
        first = asyncio.ensure_future(upper.add(2))
        while not batches:  # its lower write runs
            await asyncio.sleep(0)
        second = asyncio.ensure_future(upper.add(4))  # waits for the upper group's write in flight
        other = asyncio.ensure_future(lower.add(6))  # another writer, below
        for _ in range(3):
            await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(first, second, other) == [10020, 10040, 60]
        assert batches == expected, settle


async def test_a_cancelled_write_cancels_its_callers_rather_than_leaving_them_waiting():
    started = asyncio.Event()

    async def commit(items: list[int]) -> list:
        started.set()
        await asyncio.sleep(10)
        return items

    group = GroupCommit(commit, name="test")
    caller = asyncio.ensure_future(group.add(1))
    await started.wait()
    group._writer.cancel()  # as at shutdown
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(caller, 1.0)


async def test_a_crowds_next_batch_waits_to_gather_more_and_a_lone_item_waits_for_nothing():
    writes = Writes()
    group = GroupCommit(writes.commit, name="test", crowd_window=1.0)
    # A lone item: written at once (a crowd window of 1 s would show here as a timeout).
    assert await asyncio.wait_for(group.add(0), 0.5) == 0
    # A crowd: the first press alone, the two queued meanwhile together; then, after that batch of
    # two, one item queued during its write and one 10 ms after it share the next batch.
    first = asyncio.ensure_future(group.add(10))
    await asyncio.sleep(0)
    crowd = [asyncio.ensure_future(group.add(i)) for i in (12, 14)]
    while len(writes.batches) < 3:  # the batch of two is being written
        await asyncio.sleep(0.001)
    during = asyncio.ensure_future(group.add(16))
    while not crowd[0].done():
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    after = asyncio.ensure_future(group.add(18))
    assert await asyncio.gather(first, *crowd, during, after) == [100, 120, 140, 160, 180]
    assert writes.batches == [[0], [10], [12, 14], [16, 18]]
    # The crowd is over once a write ends with nothing queued: the next lone item waits for nothing.
    assert await asyncio.wait_for(group.add(20), 0.5) == 200
    assert writes.batches[-1] == [20]


async def test_a_writer_cancelled_while_gathering_a_crowd_cancels_its_waiting_callers():
    writes = Writes()
    group = GroupCommit(writes.commit, name="test", crowd_window=10.0)
    crowd = [asyncio.ensure_future(group.add(i)) for i in (0, 2)]  # one batch of two: a crowd
    while len(writes.batches) < 1:
        await asyncio.sleep(0.001)
    later = asyncio.ensure_future(group.add(4))  # queued during that write; then the writer waits 10 s
    assert await asyncio.gather(*crowd) == [0, 20]
    await asyncio.sleep(0.01)
    group._writer.cancel()  # (as at shutdown)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(later, 1.0)  # (a caller left waiting would time out here)
    assert await asyncio.wait_for(group.add(6), 0.5) == 60  # a new writer, with no crowd to wait for

"""bot.writes.SharedWrites: writes handed over while a shared transaction runs go into the next one
together; each caller gets its own write's result, or its own write's error."""

from __future__ import annotations

import asyncio

import pytest

from bot.writes import SharedWrites
from dermvqa.storage.shared_writes import Failed, Write, write_together


class FakeRunner:
    """Stands in for the database process running ``write_together``: each call is a transaction."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []

    async def __call__(self, fn, db, writes: list[Write]):
        assert fn is write_together
        self.transactions.append([w.fn.__name__ for w in writes])
        await asyncio.sleep(0.01)  # the transaction runs: later writes queue meanwhile
        results = []
        for w in writes:
            try:
                results.append(w.run(None))
            except Exception as exc:  # as write_together reports a write that failed alone
                results.append(Failed(exc))
        return results


def submit(_session, users: list[int]) -> list[int]:
    return [u * 10 for u in users]


def record(_session, ids: list[int]) -> set[int]:
    return set(ids)


def broken(_session) -> None:
    raise ValueError("no such row")


async def test_writes_handed_over_during_a_transaction_share_the_next_with_their_own_results():
    runner = FakeRunner()
    writes = SharedWrites(runner, db=None)
    first = asyncio.ensure_future(writes(submit, [1]))
    while not runner.transactions:
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(writes(record, [7, 8])), asyncio.ensure_future(writes(submit, [2, 3]))]
    assert await asyncio.gather(first, *later) == [[10], {7, 8}, [20, 30]]
    assert runner.transactions == [["submit"], ["record", "submit"]]
    assert writes.transactions == 2


async def test_a_failed_write_raises_to_its_own_caller_only():
    writes = SharedWrites(FakeRunner(), db=None)
    results = await asyncio.gather(writes(record, [1]), writes(broken), return_exceptions=True)
    assert results[0] == {1}
    assert isinstance(results[1], ValueError)
    with pytest.raises(ValueError, match="no such row"):
        await writes(broken)


async def test_a_rider_goes_with_the_next_transaction_another_write_starts():
    runner = FakeRunner()
    writes = SharedWrites(runner, db=None)
    rider = asyncio.ensure_future(writes.ride(5.0, record, [7]))  # would wait 5 s alone
    await asyncio.sleep(0)
    assert runner.transactions == []  # it starts none itself
    assert await writes(submit, [1]) == [10]
    assert await asyncio.wait_for(rider, 1.0) == {7}
    assert runner.transactions == [["submit", "record"]]
    assert writes.transactions == 1 and writes.rides == 1


async def test_a_rider_nobody_comes_for_goes_alone_once_its_wait_is_over():
    runner = FakeRunner()
    writes = SharedWrites(runner, db=None)
    riders = [asyncio.ensure_future(writes.ride(0.02, record, [i])) for i in (1, 2)]
    await asyncio.sleep(0.01)
    assert runner.transactions == []
    assert await asyncio.gather(*riders) == [{1}, {2}]
    assert runner.transactions == [["record", "record"]]  # together, in one of their own
    assert writes.rides == 0


async def test_a_failing_rider_raises_to_its_own_caller_only():
    writes = SharedWrites(FakeRunner(), db=None)
    rider = asyncio.ensure_future(writes.ride(5.0, broken))
    await asyncio.sleep(0)
    assert await writes(submit, [1]) == [10]
    with pytest.raises(ValueError, match="no such row"):
        await rider
    alone = asyncio.ensure_future(writes.ride(0.01, broken))
    with pytest.raises(ValueError, match="no such row"):
        await alone


async def test_riders_hear_of_a_transaction_that_failed_as_a_whole():
    class DeadRunner(FakeRunner):
        async def __call__(self, fn, db, writes):
            raise OSError("disk I/O error")

    writes = SharedWrites(DeadRunner(), db=None)
    rider = asyncio.ensure_future(writes.ride(5.0, record, [7]))
    await asyncio.sleep(0)
    results = await asyncio.gather(writes(submit, [1]), rider, return_exceptions=True)
    assert [type(r) for r in results] == [OSError, OSError]


async def test_a_cancelled_rider_does_not_stop_the_others():
    runner = FakeRunner()
    writes = SharedWrites(runner, db=None)
    gone = asyncio.ensure_future(writes.ride(0.01, record, [1]))
    kept = asyncio.ensure_future(writes.ride(0.01, record, [2]))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == {2}
    assert runner.transactions == [["record", "record"]]  # (a write already handed over still runs)


async def test_riders_go_alone_after_the_shortest_wait_among_them():
    runner = FakeRunner()
    writes = SharedWrites(runner, db=None)
    slow = asyncio.ensure_future(writes.ride(5.0, record, [1]))
    await asyncio.sleep(0)
    quick = asyncio.ensure_future(writes.ride(0.01, record, [2]))
    assert await asyncio.wait_for(asyncio.gather(slow, quick), 1.0) == [{1}, {2}]
    assert runner.transactions == [["record", "record"]]

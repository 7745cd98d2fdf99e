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

"""The sender's group commit of delivery outcomes, with fake shared writes."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery import ProgressLog, _RecordFailed
from dermvqa.storage.delivery import OutboxRow, RowOutcome


def outcome(row_id: int) -> RowOutcome:
    return RowOutcome(OutboxRow(row_id, "case_received", 1, None, {}, 0, 0, ()), progress=1, delivered=[0])


class FakeDb:
    """Stands in for SharedWrites + record_outcomes_in: records each batch, after a short 'transaction'."""

    def __init__(self, gone: set[int] = frozenset(), fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.gone, self.fail = set(gone), fail

    async def __call__(self, fn, outcomes, **kwargs):
        await asyncio.sleep(0.01)
        if self.fail:
            raise OSError("disk I/O error")
        self.batches.append([o.row.id for o in outcomes])
        return {o.row.id for o in outcomes} & self.gone


async def test_sends_completing_together_share_one_commit():
    fake = FakeDb()
    log = ProgressLog(fake, max_attempts=3)
    assert await asyncio.gather(*(log.record(outcome(i)) for i in range(20))) == [True] * 20
    assert sorted(i for batch in fake.batches for i in batch) == list(range(20))
    assert len(fake.batches) == 1 and log.commits == 1


async def test_a_record_arriving_during_a_commit_goes_into_the_next_and_waits_for_it():
    fake = FakeDb()
    log = ProgressLog(fake, max_attempts=3)
    first = asyncio.create_task(log.record(outcome(1)))
    await asyncio.sleep(0.008)  # the first commit is running
    second = asyncio.create_task(log.record(outcome(2)))
    await first
    assert not second.done()  # not recorded yet: its sender may not go on
    await second
    assert fake.batches == [[1], [2]]


async def test_each_record_returns_only_once_committed():
    fake = FakeDb()
    log = ProgressLog(fake, max_attempts=3)
    for i in range(3):
        await log.record(outcome(i))
        assert fake.batches[-1] == [i]


async def test_a_gone_row_and_a_failed_commit_are_told_to_the_sender():
    log = ProgressLog(FakeDb(gone={2}), max_attempts=3)
    assert await asyncio.gather(log.record(outcome(1)), log.record(outcome(2))) == [True, False]
    broken = ProgressLog(FakeDb(fail=True), max_attempts=3)
    with pytest.raises(_RecordFailed):
        await broken.record(outcome(1))
    assert broken.commits == 0


class RidingDb(FakeDb):
    """Also stands in for ``SharedWrites.ride``: records how long each batch was willing to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    async def ride(self, wait, fn, outcomes, **kwargs):
        self.waits.append(wait)
        return await self(fn, outcomes, **kwargs)


async def test_a_riding_log_hands_its_records_over_to_ride_with_another_write():
    fake = RidingDb()
    log = ProgressLog(fake, max_attempts=3, ride=0.025)
    assert await asyncio.gather(*(log.record(outcome(i)) for i in range(5))) == [True] * 5
    assert fake.waits and set(fake.waits) == {0.025}
    assert sorted(i for batch in fake.batches for i in batch) == list(range(5))

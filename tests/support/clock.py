"""A controlled clock for APScheduler: the real BackgroundScheduler and its executor read a fake
``datetime.now``; a test moves ``clock.now`` and wakes the scheduler."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import apscheduler.executors.base
import apscheduler.schedulers.base

WARSAW = ZoneInfo("Europe/Warsaw")


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now


def install_fake_clock(monkeypatch, start: dt.datetime | None = None) -> Clock:
    clock = Clock(start or dt.datetime(2026, 1, 15, 2, 0, tzinfo=WARSAW))

    class FakeDatetime(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return clock.now.astimezone(tz) if tz is not None else clock.now.replace(tzinfo=None)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", FakeDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", FakeDatetime)
    return clock

"""A reporting period from what a person typed (pure): ``/stats 7d``, ``--since 2026-11-01``.

A period is the half-open interval [since, until) in UTC; ``until`` None means "up to now". A day
given as the end of a period is included whole (``2026-11-01 2026-11-30`` is all of November).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dermvqa.errors import UsageError

DEFAULT_DAYS = 30
MAX_DAYS = 3660
STATS_USAGE = (
    "Usage: /stats [PERIOD], where PERIOD is 7d (the last 7 days), all, a day (2026-11-01: from that day on) "
    f"or two days (2026-11-01 2026-11-30: both included). Default: the last {DEFAULT_DAYS} days."
)
_DAYS = re.compile(r"^(\d{1,4})d$")


@dataclass(frozen=True)
class Period:
    since: dt.datetime | None
    until: dt.datetime | None

    def label(self) -> str:
        start = self.since.strftime("%Y-%m-%d %H:%M") if self.since else "the start"
        end = self.until.strftime("%Y-%m-%d %H:%M") if self.until else "now"
        return f"{start} to {end} UTC"


def parse_date(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` as midnight UTC; anything else is a :class:`UsageError` naming the expected form."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"not a date: {text!r} (expected YYYY-MM-DD, e.g. 2026-11-01)") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def end_of_day(text: str) -> dt.datetime:
    """The exclusive end of the day ``text`` (so that day is included)."""
    return parse_date(text) + dt.timedelta(days=1)


def between(since: str, until: str | None = None) -> Period:
    """A period from a first day and an optional last day (both included)."""
    start = parse_date(since)
    end = end_of_day(until) if until is not None else None
    if end is not None and end <= start:
        raise UsageError(f"the period ends ({until}) before it starts ({since})")
    return Period(start, end)


def parse_stats_period(args: Sequence[str], now: dt.datetime) -> Period:
    """``/stats`` arguments as a period; a :class:`UsageError` carrying :data:`STATS_USAGE` otherwise."""
    try:
        if not args:
            return Period(now - dt.timedelta(days=DEFAULT_DAYS), None)
        if len(args) == 1 and args[0].lower() == "all":
            return Period(None, None)
        if len(args) == 1 and (match := _DAYS.match(args[0].lower())):
            days = int(match.group(1))
            if not 1 <= days <= MAX_DAYS:
                raise UsageError(f"the number of days must be 1-{MAX_DAYS}")
            return Period(now - dt.timedelta(days=days), None)
        if len(args) in (1, 2):
            return between(*args)
        raise UsageError("too many arguments")
    except UsageError as exc:
        raise UsageError(f"{exc}. {STATS_USAGE}") from None

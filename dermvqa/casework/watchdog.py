"""The watchdog's rules (pure): which cases wait too long, which messages failed, what to report.

Nothing may wait unseen: a case that sits longer than ``[review] alert_after_minutes`` in a state
that is not final (queued, drafting, awaiting review, approved but not yet answered), and every
outbox message that failed for good, is reported to the clinicians once. Each report has a key; a
report whose key was already made is not made again (the storage layer keeps the keys durably as
the alerts' outbox ``dedupe_key``). A case that moves on and then stalls again gets a new report.

Reports carry no patient words: case numbers, states, durations and Telegram's error texts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from dermvqa.states import CaseState

# Not final, and something other than the patient should move it on. ``collecting`` waits for the
# patient; ``failed`` was already reported by its own notice (and a failed notice is reported here).
WATCHED_STATES = frozenset({CaseState.QUEUED, CaseState.DRAFTING, CaseState.AWAITING_REVIEW, CaseState.APPROVED})

CASE_STUCK = "case_stuck"
DELIVERY_FAILED = "delivery_failed"
ALERT_KINDS = frozenset({CASE_STUCK, DELIVERY_FAILED})  # never reported about themselves (no alert loops)


@dataclass(frozen=True)
class CaseAge:
    """A case and since when it has been in its current state."""

    case_id: int
    state: CaseState
    since: dt.datetime


@dataclass(frozen=True)
class FailedDelivery:
    """An outbox message that failed for good."""

    row_id: int
    kind: str
    case_id: int | None
    error: str


@dataclass(frozen=True)
class Alert:
    """One report to the clinicians: an outbox kind, its payload, and the key that makes it once."""

    key: str
    kind: str
    case_id: int | None
    payload: dict


def stuck(cases: Iterable[CaseAge], now: dt.datetime, after: dt.timedelta) -> list[CaseAge]:
    """Cases in a watched state for longer than ``after``, longest waiting first."""
    late = [c for c in cases if CaseState(c.state) in WATCHED_STATES and now - c.since > after]
    return sorted(late, key=lambda c: (c.since, c.case_id))


def stuck_key(case: CaseAge) -> str:
    """The same case stalled in the same state since the same moment is one report."""
    return f"watchdog:stuck:{case.case_id}:{CaseState(case.state).value}:{int(case.since.timestamp())}"


def failed_key(row: FailedDelivery) -> str:
    return f"watchdog:failed:{row.row_id}"


def minutes_waiting(case: CaseAge, now: dt.datetime) -> int:
    return int((now - case.since).total_seconds() // 60)


def reportable_failures(rows: Iterable[FailedDelivery]) -> list[FailedDelivery]:
    """Failed messages worth a report: all but failed alerts (reporting those would loop)."""
    return sorted((r for r in rows if r.kind not in ALERT_KINDS), key=lambda r: r.row_id)


def alerts(
    cases: Iterable[CaseAge],
    failed: Iterable[FailedDelivery],
    now: dt.datetime,
    after: dt.timedelta,
    reported: Collection[str],
) -> list[Alert]:
    """The reports still to make: stuck cases and failed messages whose key is not in ``reported``."""
    out = []
    for case in stuck(cases, now, after):
        key = stuck_key(case)
        if key not in reported:
            payload = {
                "case_id": case.case_id,
                "state": CaseState(case.state).value,
                "since": case.since.isoformat(),
                "minutes": minutes_waiting(case, now),
            }
            out.append(Alert(key, CASE_STUCK, case.case_id, payload))
    for row in reportable_failures(failed):
        key = failed_key(row)
        if key not in reported:
            payload = {"row_id": row.row_id, "kind": row.kind, "case_id": row.case_id, "error": row.error[:200]}
            out.append(Alert(key, DELIVERY_FAILED, row.case_id, payload))
    return out


def candidate_keys(
    cases: Iterable[CaseAge], failed: Iterable[FailedDelivery], now: dt.datetime, after: dt.timedelta
) -> list[str]:
    """Every key :func:`alerts` could produce (to look up which were already reported)."""
    return [stuck_key(c) for c in stuck(cases, now, after)] + [failed_key(r) for r in reportable_failures(failed)]


@dataclass(frozen=True)
class Attention:
    """What /queue and /stats show: cases waiting too long, and messages that failed for good."""

    stuck: tuple[CaseAge, ...]
    failed: int
    failed_cases: tuple[int, ...]  # case numbers of the failed messages that belong to a case


def attention(
    cases: Iterable[CaseAge], failed: Iterable[FailedDelivery], now: dt.datetime, after: dt.timedelta
) -> Attention:
    failures = reportable_failures(failed)
    numbers = sorted({r.case_id for r in failures if r.case_id is not None})
    return Attention(tuple(stuck(cases, now, after)), len(failures), tuple(numbers))

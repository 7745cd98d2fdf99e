"""The Submit transaction without the ORM: the hottest write of the bot, kept to five statements.

A crowd pressing Submit at once is bounded by the bot's one core (bench/bot_load.py): the ORM's
unit of work, identity map and per-statement flushes cost more than the statements themselves, so
this path reads the patient's open case in one query and writes with plain INSERT/UPDATE, on
SQLite through the driver itself (``dermvqa.storage.hot_statements``, Core elsewhere). The
guarantees are the ORM path's: the case leaves ``collecting`` with one conditional UPDATE (a double
press finds nothing to submit), and its drafting job and every message it owes are written in the
same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from dermvqa.states import CaseState, JobState
from dermvqa.storage.delivery import OutboxRow
from dermvqa.storage.hot_statements import CASES, OUTBOX, hot_statements
from dermvqa.storage.outbox import row_values

DRAFT_JOB = "draft"  # dermvqa.queue.jobs.DRAFT


@dataclass(frozen=True)
class OpenCase:
    """A patient and their case being collected (``case_id`` None: none open)."""

    patient_id: int
    chat_id: int
    consent_at: dt.datetime | None
    case_id: int | None
    description: str | None
    photos: int


@dataclass(frozen=True)
class Owed:
    """A message the submission owes: its kind, recipient (None: every clinician) and payload."""

    kind: str
    chat_id: int | None
    payload: dict[str, Any]
    dedupe_key: str | None = None


@dataclass(frozen=True)
class Queueing:
    """A collecting case to queue: its red flags and the messages it owes."""

    case_id: int
    urgent: bool
    urgent_reasons: list[str]  # the red flags' ids, stored with the case
    owed: Sequence[Owed]
    labels: tuple[str, ...] = ()  # the red flags' names, for the caller


QUEUE_URGENT = (
    update(CASES)
    .where(CASES.c.id == bindparam("case"), CASES.c.state == CaseState.COLLECTING.value)
    .values(
        state=CaseState.QUEUED.value, urgent=True, urgent_reasons=bindparam("reasons"), submitted_at=bindparam("now")
    )
    .returning(CASES.c.id)
)
# SQLite cannot promise the order of RETURNING rows, so for an ordered RETURNING SQLAlchemy inserts
# row by row (a statement per message): a batch's rows are inserted in one statement and matched
# back by what tells them apart (a case owes each kind of message to a chat once).
INSERT_OUTBOX_ORDERED = insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True)


def load_open_cases(connection: Connection, user_ids: Sequence[int]) -> dict[int, OpenCase]:
    """Per Telegram user id, the patient and their newest collecting case with its photo count, in
    one query (unknown users are absent)."""
    rows = hot_statements(connection).open_cases(user_ids)
    found: dict[int, OpenCase] = {}
    for user_id, patient_id, chat_id, consent_at, case_id, description, count in rows:
        if user_id not in found:  # newest case first
            found[user_id] = OpenCase(
                patient_id, chat_id, consent_at, case_id, description, int(count or 0) if case_id else 0
            )
    return found


def newest_submitted_case(connection: Connection, patient_id: int) -> int | None:
    """The patient's latest submitted case (what a second press of Submit refers to)."""
    return connection.execute(
        select(func.max(CASES.c.id)).where(CASES.c.patient_id == patient_id, CASES.c.submitted_at.is_not(None))
    ).scalar()


def queue_cases(
    connection: Connection, cases: Sequence[Queueing], *, max_attempts: int, now: dt.datetime
) -> dict[int, list[OutboxRow]]:
    """``collecting -> queued`` for each case, its drafting job and the messages it owes, in the
    caller's transaction, with one statement per table for all of them. Returns, per case queued,
    its outbox rows as written (for immediate delivery); a case no longer collecting (another
    process acted first) is absent and gets nothing."""
    statements = hot_statements(connection)
    moved: set[int] = set()
    plain = [c.case_id for c in cases if not c.urgent]
    if plain:
        moved.update(statements.queue_plain(plain, now))
    for case in (c for c in cases if c.urgent):  # rare: one statement each, with its own reasons
        params = {"case": case.case_id, "reasons": case.urgent_reasons or None, "now": now}
        moved.update(connection.execute(QUEUE_URGENT, params).scalars())
    queued = [c for c in cases if c.case_id in moved]
    if not queued:
        return {}
    statements.insert_jobs(
        [
            {
                "kind": DRAFT_JOB,
                "case_id": c.case_id,
                "state": JobState.QUEUED.value,
                "priority": 10 if c.urgent else 0,
                "attempts": 0,
                "max_attempts": max_attempts,
                "run_after": now,
                "created_at": now,
            }
            for c in queued
        ],
    )
    owed = [(c.case_id, message) for c in queued for message in c.owed]
    rows: dict[int, list[OutboxRow]] = {c.case_id: [] for c in queued}
    if not owed:  # (an empty parameter list would insert one row of defaults)
        return rows
    values = [row_values(m.kind, m.chat_id, case_id, m.payload, now, m.dedupe_key) for case_id, m in owed]
    keys = [(case_id, m.kind, m.chat_id) for case_id, m in owed]
    if len(set(keys)) == len(keys):
        by_key = {
            (case_id, kind, chat_id): row_id for row_id, case_id, kind, chat_id in statements.insert_outbox(values)
        }
        ids = [by_key[key] for key in keys]
    else:  # the same message twice (no caller does this): matched by order, a statement per row
        ids = list(connection.execute(INSERT_OUTBOX_ORDERED, values).scalars())
    for row_id, (case_id, m) in zip(ids, owed, strict=True):
        rows[case_id].append(OutboxRow(row_id, m.kind, m.chat_id, case_id, dict(m.payload), 0, 0, ()))
    return rows

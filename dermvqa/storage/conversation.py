"""The conversation record: every message in and out, in the database (never in the logs).

Incoming messages of people who have not consented are not stored (only their refusal is, by the
consent step); clinicians' messages are. The bot writes incoming messages in small batches (every
few tens of milliseconds); outgoing messages are stored in the transaction that records their
delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dermvqa.storage.database import Database
from dermvqa.storage.hot_statements import hot_statements
from dermvqa.storage.models import Case, ClinicianSession, Patient, utcnow


@dataclass(frozen=True)
class IncomingEntry:
    user_id: int
    chat_id: int
    kind: str
    text: str | None
    message_id: int | None
    is_clinician: bool


# Built once (their cache keys are memoised): the record is written for every message in and out.
_PATIENTS_BY_CHAT = select(Patient.chat_id, Patient.id, Patient.consent_at).where(
    Patient.chat_id.in_(bindparam("chats", expanding=True))
)
_SESSIONS_OF = select(ClinicianSession.clinician_id, ClinicianSession.chat_id, ClinicianSession.case_id).where(
    ClinicianSession.clinician_id.in_(bindparam("clinicians", expanding=True))
)
_EXISTING_CASES = select(Case.id).where(Case.id.in_(bindparam("cases", expanding=True)))


def record_incoming(db: Database, entries: Sequence[IncomingEntry]) -> int:
    """Store incoming messages in one transaction; returns how many were kept (consent decides).

    A burst's entries are looked up together (patients with their latest cases in one query,
    clinicians' open sessions in another) and inserted with one statement.
    """
    if not entries:
        return 0
    with db.write() as session:
        return record_incoming_in(session, entries)


def record_incoming_in(session: Session, entries: Sequence[IncomingEntry]) -> int:
    """:func:`record_incoming` in the caller's write transaction (shared with other writes:
    ``dermvqa.storage.shared_writes``)."""
    users = {e.user_id for e in entries}
    patients, latest = {}, {}
    statements = hot_statements(session.connection())
    for user, patient_id, consent_at, newest_case in statements.patients_by_user(list(users)):
        patients[user] = (patient_id, consent_at)
        if newest_case is not None:
            latest[patient_id] = newest_case
    sessions: dict[tuple[int, int], int] = {}
    if any(e.is_clinician for e in entries):
        clinicians = {e.user_id for e in entries if e.is_clinician}
        sessions = {
            (user, chat): case_id
            for user, chat, case_id in session.connection().execute(_SESSIONS_OF, {"clinicians": list(clinicians)})
        }
    rows = []
    for e in entries:
        patient = patients.get(e.user_id)
        if not e.is_clinician and (patient is None or patient[1] is None):
            continue
        if patient is not None:
            case_id = latest.get(patient[0])
        else:  # a clinician: an edited answer or a reject reason, linked to its case, erased with it
            case_id = sessions.get((e.user_id, e.chat_id))
        rows.append(
            {
                "patient_id": patient[0] if patient else None,
                "case_id": case_id,
                "chat_id": e.chat_id,
                "user_id": e.user_id,
                "direction": "in",
                "kind": e.kind,
                # A clinician's words about a case (an edited answer, a reject reason) are kept with
                # the review that used them, and erased with it; the log keeps that they wrote, not
                # what: the batch recording this may run after their Edit/Reject has ended, when
                # the text could no longer be linked to its case.
                "text": None if e.is_clinician else e.text,
                "telegram_message_id": e.message_id,
                "created_at": utcnow(),
            }
        )
    if rows:
        statements.insert_messages(rows)
    return len(rows)


@dataclass(frozen=True)
class Outgoing:
    """One delivered message, for the record."""

    chat_id: int
    case_id: int | None
    kind: str
    text: str | None
    message_id: int | None


@dataclass(frozen=True)
class KnownRecipients:
    """What the caller already read for the record of delivered messages: per chat its patient's id
    and consent time (chats absent: no patient, e.g. a clinician's), and the cases that still exist."""

    patients: dict[int, tuple[int, dt.datetime | None]]
    cases: set[int]


def record_outgoing_many(session: Session, messages: Sequence[Outgoing], known: KnownRecipients | None = None) -> None:
    """Store delivered messages in the caller's transaction, except those to someone who never
    consented; a case deleted meanwhile is not linked. One query per table (none with ``known``,
    read by the caller in the same transaction) and one INSERT."""
    if not messages:
        return
    if known is None:
        chats = {m.chat_id for m in messages}
        patients = {
            chat: (patient_id, consent_at)
            for chat, patient_id, consent_at in session.connection().execute(_PATIENTS_BY_CHAT, {"chats": list(chats)})
        }
        wanted = {m.case_id for m in messages if m.case_id is not None}
        cases = (
            set(session.connection().execute(_EXISTING_CASES, {"cases": list(wanted)}).scalars()) if wanted else set()
        )
    else:
        patients, cases = known.patients, known.cases
    rows = []
    for m in messages:
        patient = patients.get(m.chat_id)
        if patient is not None and patient[1] is None:
            continue
        rows.append(
            {
                "patient_id": patient[0] if patient else None,
                "case_id": m.case_id if m.case_id in cases else None,
                "chat_id": m.chat_id,
                "direction": "out",
                "kind": m.kind,
                "text": m.text,
                "telegram_message_id": m.message_id,
                "created_at": utcnow(),
            }
        )
    if rows:
        hot_statements(session.connection()).insert_messages(rows)

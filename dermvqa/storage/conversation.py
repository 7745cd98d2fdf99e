"""The conversation record: every message in and out, in the database (never in the logs).

Incoming messages of people who have not consented are not stored (only their refusal is, by the
consent step); clinicians' messages are. The bot writes incoming messages in small batches (every
few tens of milliseconds); outgoing messages are stored in the transaction that records their
delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, ClinicianSession, MessageLog, Patient


@dataclass(frozen=True)
class IncomingEntry:
    user_id: int
    chat_id: int
    kind: str
    text: str | None
    message_id: int | None
    is_clinician: bool


def record_incoming(db: Database, entries: Sequence[IncomingEntry]) -> int:
    """Store incoming messages in one transaction; returns how many were kept (consent decides)."""
    kept = 0
    with db.write() as session:
        for e in entries:
            patient = session.scalar(select(Patient).where(Patient.telegram_user_id == e.user_id))
            if not e.is_clinician and (patient is None or patient.consent_at is None):
                continue
            case_id = None
            if patient is not None:
                case_id = session.scalar(select(Case.id).where(Case.patient_id == patient.id).order_by(Case.id.desc()))
            elif e.is_clinician:  # an edited answer or a reject reason: linked to its case, erased with it
                case_id = session.scalar(
                    select(ClinicianSession.case_id).where(
                        ClinicianSession.clinician_id == e.user_id, ClinicianSession.chat_id == e.chat_id
                    )
                )
            session.add(
                MessageLog(
                    patient_id=patient.id if patient else None,
                    case_id=case_id,
                    chat_id=e.chat_id,
                    user_id=e.user_id,
                    direction="in",
                    kind=e.kind,
                    # A clinician's words about a case (an edited answer, a reject reason) are kept with
                    # the review that used them, and erased with it; the log keeps that they wrote, not
                    # what: the batch recording this may run after their Edit/Reject has ended, when
                    # the text could no longer be linked to its case.
                    text=None if e.is_clinician else e.text,
                    telegram_message_id=e.message_id,
                )
            )
            kept += 1
    return kept


def record_outgoing(
    session: Session, chat_id: int, case_id: int | None, kind: str, text: str | None, message_id: int | None
) -> None:
    """Store one delivered message, unless it went to someone who never consented."""
    patient = session.scalar(select(Patient).where(Patient.chat_id == chat_id))
    if patient is not None and patient.consent_at is None:
        return
    if case_id is not None and session.get(Case, case_id) is None:
        case_id = None
    session.add(
        MessageLog(
            patient_id=patient.id if patient else None,
            case_id=case_id,
            chat_id=chat_id,
            direction="out",
            kind=kind,
            text=text,
            telegram_message_id=message_id,
        )
    )

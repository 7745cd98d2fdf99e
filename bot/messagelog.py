"""The conversation record: every message in and out, in the database (never in the logs).

Incoming messages of people who have not consented are not stored (only their refusal is, by
the consent step); clinicians' messages are stored. Outgoing messages are stored once delivered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, MessageLog, Patient


def log_incoming(
    db: Database,
    *,
    user_id: int,
    chat_id: int,
    kind: str,
    text: str | None,
    message_id: int | None,
    is_clinician: bool,
) -> bool:
    """Store one incoming message; False when it was not stored (no consent)."""
    with db.write() as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == user_id))
        if not is_clinician and (patient is None or patient.consent_at is None):
            return False
        case_id = None
        if patient is not None:
            case_id = session.scalar(select(Case.id).where(Case.patient_id == patient.id).order_by(Case.id.desc()))
        session.add(
            MessageLog(
                patient_id=patient.id if patient else None,
                case_id=case_id,
                chat_id=chat_id,
                user_id=user_id,
                direction="in",
                kind=kind,
                text=text,
                telegram_message_id=message_id,
            )
        )
        return True


def log_outgoing(
    db: Database, chat_id: int, case_id: int | None, kind: str, part: dict[str, Any], message_ids: list[int]
) -> None:
    text = part.get("text") or part.get("caption")
    with db.write() as session:
        patient_id = session.scalar(select(Patient.id).where(Patient.chat_id == chat_id))
        if case_id is not None and session.get(Case, case_id) is None:
            case_id = None
        session.add(
            MessageLog(
                patient_id=patient_id,
                case_id=case_id,
                chat_id=chat_id,
                direction="out",
                kind=f"{kind}:{part['op']}",
                text=text,
                telegram_message_id=message_ids[-1] if message_ids else None,
            )
        )

"""Patients and the case being collected: consent, photos, description, submission.

Everything here runs inside the caller's write transaction. Submitting marks the case ``queued``
and inserts its drafting job in that same transaction, so a submitted case always has a job.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermvqa.states import CaseState
from dermvqa.storage.image_store import StoredImage
from dermvqa.storage.models import Case, CaseImage, Patient, utcnow


def find_patient(session: Session, telegram_user_id: int) -> Patient | None:
    return session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))


def ensure_patient(session: Session, telegram_user_id: int, chat_id: int, language: str | None = None) -> Patient:
    patient = find_patient(session, telegram_user_id)
    if patient is None:
        patient = Patient(telegram_user_id=telegram_user_id, chat_id=chat_id, language=language)
        session.add(patient)
        session.flush()
    return patient


def give_consent(session: Session, patient: Patient, version: str, now: dt.datetime | None = None) -> None:
    patient.consent_at = now or utcnow()
    patient.consent_version = version


def collecting_case(session: Session, patient_id: int) -> Case | None:
    return session.scalar(
        select(Case).where(Case.patient_id == patient_id, Case.state == CaseState.COLLECTING).order_by(Case.id.desc())
    )


def open_case(session: Session, patient_id: int, *, prompt_id: int = 1, language: str | None = None) -> Case:
    """The patient's case being collected, or a new one."""
    case = collecting_case(session, patient_id)
    if case is None:
        case = Case(patient_id=patient_id, state=CaseState.COLLECTING, prompt_id=prompt_id, language=language)
        session.add(case)
        session.flush()
    return case


def image_count(session: Session, case_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CaseImage).where(CaseImage.case_id == case_id)) or 0


def add_image(
    session: Session,
    case_id: int,
    stored: StoredImage,
    *,
    telegram_file_id: str | None = None,
    telegram_file_unique_id: str | None = None,
) -> CaseImage:
    position = image_count(session, case_id) + 1
    row = CaseImage(
        case_id=case_id,
        position=position,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        width=stored.width,
        height=stored.height,
        mime_type=stored.mime_type,
        telegram_file_id=telegram_file_id,
        telegram_file_unique_id=telegram_file_unique_id,
    )
    session.add(row)
    session.flush()
    return row

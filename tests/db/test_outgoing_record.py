"""The conversation record of delivered messages, written with their delivery record
(``record_outcomes``): linked to the chat's patient and to the case, nothing for a patient who never
consented, no patient for a clinician's chat, nothing for a message whose case was erased meanwhile
(its row went with the case)."""

from __future__ import annotations

from sqlalchemy import delete, select
from support.cases import submit

from dermvqa.storage.delivery import RowOutcome, due, record_outcomes
from dermvqa.storage.intake import ensure_patient
from dermvqa.storage.models import Case, MessageLog, Patient, utcnow
from dermvqa.storage.outbox import add_message

PATIENT, NO_CONSENT, CLINICIAN, GONE = 6001, 6002, 78, 6003


def test_each_delivered_message_is_recorded_with_its_patient_and_case(any_db, store):
    db = any_db
    case = submit(db, store, PATIENT)
    gone = submit(db, store, GONE)
    with db.write() as session:
        for patient in session.scalars(select(Patient)):
            patient.consent_at = utcnow()
        ensure_patient(session, NO_CONSENT, NO_CONSENT)  # wrote to the bot, never agreed
        for chat, case_id in ((PATIENT, case), (NO_CONSENT, None), (CLINICIAN, case), (GONE, gone)):
            add_message(session, "notice", chat_id=chat, case_id=case_id, payload={"n": chat})
    rows = {row.chat_id: row for row in due(db, utcnow())}
    with db.write() as session:  # the case is erased while its message is being sent
        session.execute(delete(Case).where(Case.id == gone))
    outcomes = [
        RowOutcome(row, [{"op": "message", "text": f"words for {chat}"}], 1, [100 + i], delivered=[0], done=True)
        for i, (chat, row) in enumerate(sorted(rows.items()))
    ]
    assert record_outcomes(db, outcomes, max_attempts=3, now=utcnow()) == {rows[GONE].id}

    with db.read() as session:
        patients = dict(session.execute(select(Patient.chat_id, Patient.id)).all())
        recorded = {
            m.chat_id: (m.patient_id, m.case_id, m.text)
            for m in session.scalars(select(MessageLog).where(MessageLog.direction == "out"))
        }
    assert recorded == {
        PATIENT: (patients[PATIENT], case, f"words for {PATIENT}"),
        CLINICIAN: (None, case, f"words for {CLINICIAN}"),
    }

"""Erasing a patient (/delete): everything that is theirs goes, the minimal medical record stays.

Removed, in one transaction: the patient row itself (a returning user starts again with the consent
question), their cases, photos (rows, then the files), drafts, reviews (with edited texts and reject
reasons), clinicians' unfinished edits of their cases, jobs, outbox rows of their cases and every
outbox row to their chat (answer previews, replies, notices), and every conversation record to or
from them. Review posts already shown to clinicians are withdrawn (deleted, or blanked where
Telegram refuses). Models trained on their cases are tainted (``dermvqa.storage.model_taint``).

Kept: the audit rows of clinicians' decisions (``dermvqa.casework.audit``: a keyed hash of the case
id, who, what, when; nothing else), and the training runs' case-id lists (numbers, needed to find
tainted models). The patient is then sent one notice; that outbox row deletes itself once delivered.

On SQLite, deleted rows are overwritten (``secure_delete``, checked on the deleting connection) and the
write-ahead log is checkpointed and truncated afterwards, so the words leave the files too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from dermvqa.casework import kinds
from dermvqa.casework.posts import close_review_posts
from dermvqa.queue.jobs import cancel_for_case
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.intake import find_patient
from dermvqa.storage.model_taint import taint_models_for_cases
from dermvqa.storage.models import (
    Case,
    CaseImage,
    ClinicianSession,
    Draft,
    Job,
    MessageLog,
    OutboxMessage,
    Patient,
    Review,
    SafetyCheck,
    utcnow,
)
from dermvqa.storage.outbox import add_message

logger = logging.getLogger(__name__)

# Outbox kinds addressed to clinicians: kept when they go to the erased patient's chat id (a
# clinician trying the bot as a patient), since they are about other patients' cases.
CLINICIAN_KINDS = frozenset(
    {
        kinds.REVIEW_REQUEST,
        kinds.REVIEW_UPDATE,
        kinds.WITHDRAW_POST,
        kinds.URGENT_ALERT,
        kinds.ROOM_LOCKED,
        kinds.CASE_STUCK,
        kinds.DELIVERY_FAILED,
        kinds.CASE_FAILED,
    }
)


@dataclass(frozen=True)
class Deleted:
    cases: int
    images: int
    files_removed: int = 0
    models_tainted: tuple[int, ...] = ()


def ensure_secure_delete(session: Session) -> None:
    """On SQLite, make sure the connection of this transaction overwrites what it deletes."""
    if session.get_bind().dialect.name != "sqlite":
        return
    if not session.execute(text("PRAGMA secure_delete")).scalar():
        session.execute(text("PRAGMA secure_delete = ON"))
        logger.warning("secure_delete was off on the erasing connection; turned on")


def checkpoint(db: Database) -> None:
    """On SQLite, copy the write-ahead log into the file and truncate it (old page images go)."""
    if db.engine.dialect.name != "sqlite":
        return
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        busy, _log, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
        if busy:
            logger.warning("WAL checkpoint after an erasure was blocked by a reader; the next one completes it")
    finally:
        raw.close()


def erase_case_rows(session: Session, case_ids: Sequence[int]) -> None:
    """Delete every row of these cases (not relying on cascades: PostgreSQL and SQLite the same)."""
    if not case_ids:
        return
    ids = list(case_ids)
    for model in (SafetyCheck, ClinicianSession, Review, Draft, Job, CaseImage, OutboxMessage, MessageLog):
        session.execute(delete(model).where(model.case_id.in_(ids)))
    session.execute(delete(Case).where(Case.id.in_(ids)))


def erase_patient(db: Database, store: ImageStore, user_id: int, chat_id: int) -> Deleted:
    """Erase everything of the patient ``user_id`` (see the module docstring). Only the patient's own
    private chat is erased (on Telegram its id is the user id): ``chat_id`` counts only when it is that
    chat, so a /delete pressed anywhere else can never wipe another chat's records."""
    now = utcnow()
    with db.write() as session:
        ensure_secure_delete(session)
        patient = find_patient(session, user_id)
        own_chat = chat_id if chat_id == user_id else user_id
        chats = {own_chat} | ({patient.chat_id} if patient is not None else set())
        case_ids: list[int] = []
        if patient is not None:
            case_ids = list(session.scalars(select(Case.id).where(Case.patient_id == patient.id)))
        hashes = set(session.scalars(select(CaseImage.sha256).where(CaseImage.case_id.in_(case_ids))))
        images = session.scalar(select(func.count()).where(CaseImage.case_id.in_(case_ids))) or 0
        for case_id in case_ids:
            cancel_for_case(session, case_id, "patient deleted their data", now)
            close_review_posts(session, case_id, "deleted at the patient's request", erase=True)
        tainted = taint_models_for_cases(session, case_ids, now=now)
        erase_case_rows(session, case_ids)
        conditions = [MessageLog.user_id == user_id, MessageLog.chat_id.in_(chats)]
        if patient is not None:
            conditions.append(MessageLog.patient_id == patient.id)
        session.execute(delete(MessageLog).where(or_(*conditions)))
        session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.chat_id.in_(chats), OutboxMessage.kind.not_in(sorted(CLINICIAN_KINDS))
            )
        )
        if patient is not None:
            session.execute(delete(Patient).where(Patient.id == patient.id))
        add_message(session, kinds.DELETED, chat_id=own_chat, payload={})
    with db.read() as session:
        removed = store.delete_unreferenced(session, hashes)
    checkpoint(db)
    logger.info("patient erased: %d case(s), %d image(s), %d file(s)", len(case_ids), images, removed)
    return Deleted(len(case_ids), images, removed, tuple(tainted))

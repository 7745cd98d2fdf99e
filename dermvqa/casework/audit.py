"""The audit record: who decided what about a case, and when, kept after the patient's data is erased.

At each clinician decision (approve, edit, reject, regenerate) a :class:`CaseAudit` row is written in
the decision's own transaction. It holds a keyed hash of the case id (HMAC-SHA256 with the audit
subkey of the data key, hex), the clinician's Telegram id, the action and the time: no words, no
photos, no patient id. Without the data key the rows cannot be linked to a case; with it, the service
can answer "who approved the answer to case N?" (:func:`decisions_for_case`) even after /delete.

The subkey comes from the data key, so rotating the data key changes every case key: a rotation must
re-key the audit rows (:func:`rekey_audit`, case ids are small numbers so the old keys can be recomputed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from dermvqa.storage.database import Database
from dermvqa.storage.keys import DataKey, load_data_key
from dermvqa.storage.models import Case, CaseAudit, TrainingRunCase, utcnow


@dataclass(frozen=True)
class AuditEntry:
    action: str
    clinician_id: int
    at: dt.datetime


def case_key(audit_key: bytes, case_id: int) -> str:
    """The keyed hash naming ``case_id`` in the audit record (64 hex characters)."""
    return hmac.new(audit_key, f"case:{int(case_id)}".encode(), hashlib.sha256).hexdigest()


def audit_key_of(db: Database) -> bytes:
    """The audit subkey: from the key the database was opened with, else from ``DERMBOT_DATA_KEY``."""
    key = db.key if db.key is not None else load_data_key()
    return key.audit_key


def record_decision(
    session: Session, audit_key: bytes, case_id: int, action: str, clinician_id: int, at: dt.datetime | None = None
) -> None:
    """Add the audit row of one decision (call inside the decision's transaction)."""
    key = case_key(audit_key, case_id)
    session.add(CaseAudit(case_key=key, action=action, clinician_id=clinician_id, at=at or utcnow()))


def decisions_for_case(db: Database, case_id: int) -> list[AuditEntry]:
    """Every recorded decision about ``case_id``, oldest first (also for an erased case)."""
    key = case_key(audit_key_of(db), case_id)
    with db.read() as session:
        rows = session.scalars(select(CaseAudit).where(CaseAudit.case_key == key).order_by(CaseAudit.id)).all()
        return [AuditEntry(r.action, r.clinician_id, r.at) for r in rows]


def highest_case_id(session: Session) -> int:
    """The largest case id ever given (erased cases included, where the database tells)."""
    highest = max(
        session.scalar(select(func.max(Case.id))) or 0, session.scalar(select(func.max(TrainingRunCase.case_id))) or 0
    )
    if session.get_bind().dialect.name == "sqlite":  # AUTOINCREMENT: the counter survives deletions
        seq = session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'cases'")).scalar()
        highest = max(highest, int(seq or 0))
    elif session.get_bind().dialect.name == "postgresql":
        seq = session.execute(text("SELECT last_value FROM cases_id_seq")).scalar()
        highest = max(highest, int(seq or 0))
    return highest


def rekey_audit(session: Session, old: DataKey, new: DataKey) -> int:
    """Re-key every audit row from ``old`` to ``new`` (after a data key rotation); returns how many rows.

    The old case keys are recomputed for every case id up to :func:`highest_case_id`, so rows of
    erased cases are re-keyed too. Idempotent: rows already under ``new`` match no old key.
    """
    old_key, new_key = old.audit_key, new.audit_key
    present = set(session.scalars(select(CaseAudit.case_key).distinct()))
    n = 0
    for case_id in range(1, highest_case_id(session) + 1):
        before = case_key(old_key, case_id)
        if before in present:
            n += session.execute(
                update(CaseAudit).where(CaseAudit.case_key == before).values(case_key=case_key(new_key, case_id))
            ).rowcount
    return n

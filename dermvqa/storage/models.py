"""SQLAlchemy 2 models: the whole flow of a case, from intake to the learning loop.

Times are stored as naive UTC (``UTCDateTime`` makes them aware again on read), so SQLite and
PostgreSQL compare them the same way. Patient-owned rows cascade on delete, so erasing a patient
erases their cases, photos' rows, messages, drafts and reviews in one statement.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    # indexed: the record of every delivered message looks its chat's patient up
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_version: Mapped[str | None] = mapped_column(String(32))
    # The second, separate question: may this patient's cases improve the model? None: not asked yet.
    training_consent: Mapped[bool | None] = mapped_column(Boolean)
    training_consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # declined consent: nothing else kept
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    cases: Mapped[list[Case]] = relationship(back_populates="patient", passive_deletes=True)


class Case(Base):
    __tablename__ = "cases"
    # AUTOINCREMENT on SQLite: a deleted case's number is never given to another (its leftover review
    # posts must not act on someone else's case). PostgreSQL sequences never reuse ids anyway.
    __table_args__ = (Index("ix_cases_state_urgent", "state", "urgent"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(24), default="collecting")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_reasons: Mapped[list[str] | None] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    prompt_id: Mapped[int] = mapped_column(Integer, default=1)
    final_text: Mapped[str | None] = mapped_column(Text)  # what the patient received (clean, no disclaimer)
    failure: Mapped[str | None] = mapped_column(Text)  # why drafting gave up
    # The structured intake (dermvqa.casework.questionnaire): the answers as the MEDIQA-MAGIC 2025 JSON object
    # (every question id; unanswered ones "Not mentioned"), and the questions' state, so they resume after a restart.
    closed_qa: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    questionnaire: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="cases")
    images: Mapped[list[CaseImage]] = relationship(
        back_populates="case", order_by="CaseImage.position", passive_deletes=True
    )


class CaseImage(Base):
    """One photo of a case. The file lives on disk, encrypted, under ``sha256``: despite the column's
    name, the keyed hash that names the stored file (see dermvqa.storage.image_store); the row keeps its facts."""

    __tablename__ = "case_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    mime_type: Mapped[str] = mapped_column(String(64))
    telegram_file_id: Mapped[str | None] = mapped_column(String(256))
    telegram_file_unique_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="images")


class MessageLog(Base):
    """Every message in and out: the conversation record."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(24))  # text, command, photo, document, callback, ...
    text: Mapped[str | None] = mapped_column(Text)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused (review buttons name a draft)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), unique=True)
    text: Mapped[str] = mapped_column(Text)  # clean model text; the disclaimer is added when shown
    model_version: Mapped[str] = mapped_column(String(512))
    prompt_id: Mapped[int] = mapped_column(Integer)
    new_tokens: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    generate_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    queue_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # submitted -> claimed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="SET NULL"))
    clinician_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))  # approve | edit | reject | regenerate
    draft_text: Mapped[str | None] = mapped_column(Text)
    final_text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """A durable job (drafting). Claimed with one conditional UPDATE under a lease."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "state", "priority", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), default="draft")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)  # urgent cases first
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message owed to someone, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    # Review posts are outbox rows: their ids are never reused (see Case).
    __table_args__ = (Index("ix_outbox_pending", "state", "next_attempt_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. review_request, patient_text, answer
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    telegram_message_ids: Mapped[list[int] | None] = mapped_column(JSON)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # parts of the payload already delivered
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ClinicianSession(Base):
    """A clinician's unfinished Edit or Reject: waiting for their text, or for them to confirm it."""

    __tablename__ = "clinician_sessions"
    __table_args__ = (
        UniqueConstraint("clinician_id", "chat_id", name="uq_clinician_sessions_who"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinician_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))  # edit | reject
    state: Mapped[str] = mapped_column(String(24))  # awaiting_text | awaiting_confirm
    proposed_text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ModelRecord(Base):
    """The model registry: which model drafts, and every candidate the learning loop produced."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "revision", "adapter_path", name="uq_models_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(512))  # base model: a hub id or a local path
    revision: Mapped[str] = mapped_column(String(128), default="main")
    adapter_path: Mapped[str | None] = mapped_column(String(1024))  # a LoRA adapter or full checkpoint
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate|active|retired|rejected
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Trained on a case that was erased since: never promoted again, retired at the next nightly run.
    tainted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ModelEvent(Base):
    """Promotions and rollbacks, with who asked and why."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback | reject
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingRun(Base):
    """One night of the learning loop (or a ``dermbot train --now``): what it did and why."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|skipped|promoted|rejected|failed
    reason: Mapped[str | None] = mapped_column(Text)
    new_cases: Mapped[int] = mapped_column(Integer, default=0)  # approved since the last run that trained
    train_size: Mapped[int] = mapped_column(Integer, default=0)
    heldout_size: Mapped[int] = mapped_column(Integer, default=0)
    candidate_model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report_dir: Mapped[str | None] = mapped_column(String(1024))


class ServiceFlag(Base):
    """A named, durable switch of the running service, such as the review group's lock."""

    __tablename__ = "service_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingRunCase(Base):
    """Which cases a training run trained on (no foreign key: the case may be erased, the record
    stays so that the models trained on it can be found and tainted; case ids are never reused)."""

    __tablename__ = "training_run_cases"

    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class CaseAudit(Base):
    """The minimal medical record of a clinician's decision, kept when the patient's data is erased:
    a keyed hash of the case, who decided what and when. No words, no photos, no patient id."""

    __tablename__ = "case_audit"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_key: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))  # approve | edit | reject | regenerate
    clinician_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyTemplate(Base):
    """A clinician's canned reply (``/templates``), offered when they press Edit. It belongs to the
    clinician, not to any patient: erasing a patient leaves it alone."""

    __tablename__ = "reply_templates"
    __table_args__ = (
        UniqueConstraint("clinician_id", "name", name="uq_reply_templates_name"),
        {"sqlite_autoincrement": True},  # buttons name a template by id: never reused
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinician_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SafetyCheck(Base):
    """A planted faulty draft shown in a review post (``dermvqa.casework.safety_checks``) and what the
    clinician did with it. The real draft stays untouched in ``drafts``; the row goes with its case."""

    __tablename__ = "safety_checks"
    __table_args__ = ({"sqlite_autoincrement": True},)  # review posts name a check by id: never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))  # the real draft
    canary_id: Mapped[str] = mapped_column(String(64))
    list_version: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))  # wrong_side | contraindicated_treatment | missed_urgent_sign
    planted_text: Mapped[str] = mapped_column(Text)  # what the post showed instead of the real draft
    explanation: Mapped[str] = mapped_column(Text)  # what was wrong, told to clinicians afterwards
    outcome: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    clinician_id: Mapped[int | None] = mapped_column(BigInteger)  # who decided on the planted draft
    # The planted post whose button settled it (Telegram's chat and message id); the review request and
    # each clinician's copy name the check in their payload ("safety_check").
    post_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    post_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

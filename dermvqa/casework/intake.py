"""What a patient can do, as transactions: consent, add photos and a description, submit,
withdraw, look at their cases, delete everything.

No Telegram here: the bot parses an update, calls one of these functions (in a thread: they block
on the database) and renders the result. Every message a patient or clinician is owed because of
a change is written to the outbox in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from dermvqa.casework import kinds
from dermvqa.casework.erasure import Deleted as Deleted
from dermvqa.casework.erasure import erase_patient
from dermvqa.casework.posts import close_review_posts
from dermvqa.config import IntakeConfig
from dermvqa.errors import ImageError, ImageTooLarge, UnsupportedImageFormat
from dermvqa.queue.jobs import cancel_for_case
from dermvqa.states import WITHDRAWABLE, CaseState
from dermvqa.storage.cases import transition
from dermvqa.storage.database import Database
from dermvqa.storage.delivery import OutboxRow
from dermvqa.storage.image_store import ImageStore, StoredImage
from dermvqa.storage.intake import (
    add_image,
    collecting_case,
    ensure_patient,
    find_patient,
    give_consent,
    image_count,
    open_case,
)
from dermvqa.storage.models import Case, Patient, utcnow
from dermvqa.storage.outbox import add_message
from dermvqa.storage.submission import OpenCase, Owed, Queueing, load_open_cases, newest_submitted_case, queue_cases
from dermvqa.triage import red_flags

logger = logging.getLogger(__name__)

# The version of the consent text (bot/texts.py: welcome, training_question): stored with each
# patient's answer. Bump it whenever what the patient is told about their data changes.
CONSENT_VERSION = "2026-12"

# Documents (files sent uncompressed) are downloaded only when they claim to be one of these.
PHOTO_MIME_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp"})
PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp"})
# Image-like files we do not open: told "JPEG, PNG or WebP" rather than "only photos".
OTHER_IMAGE_MIME_TYPES = frozenset(
    {"application/postscript", "application/eps", "application/x-eps", "application/x-photoshop", "application/psd"}
)
OTHER_IMAGE_EXTENSIONS = frozenset(
    ".eps .ps .ai .psd .tif .tiff .gif .bmp .heic .heif .avif .ico .svg .dng .cr2 .nef .raw .jp2 .tga .xcf".split()
)


@dataclass(frozen=True)
class PatientView:
    known: bool
    consented: bool
    collecting_case: int | None = None
    photos: int = 0
    description_chars: int = 0
    training_consent: bool | None = None  # None: not answered (yet)
    outdated_consent: bool = False  # agreed to an earlier consent text: the current one must be shown


@dataclass(frozen=True)
class PrivacyView:
    """What a patient agreed to, and when (``/privacy``)."""

    known: bool
    consented: bool
    consent_version: str | None = None
    consent_at: dt.datetime | None = None
    refused_at: dt.datetime | None = None
    training_consent: bool | None = None  # None: not answered (yet)
    training_consent_at: dt.datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """Why an input was refused: a code the bot turns into a message, and the limit involved."""

    # too_many_photos | file_too_large | too_many_pixels | unsupported_format | not_an_image |
    # not_an_image_type | too_long | too_short | empty | ...
    code: str
    limit: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Added:
    case_id: int
    photos: int
    description_chars: int


@dataclass(frozen=True)
class Submitted:
    case_id: int
    urgent: bool
    flags: tuple[str, ...] = ()
    photos: int = 0
    # the patient's messages the submission wrote (acknowledgement, urgent advice), to send at once
    deliver: tuple[OutboxRow, ...] = ()


@dataclass(frozen=True)
class CaseSummary:
    case_id: int
    state: CaseState
    urgent: bool
    photos: int
    created_at: dt.datetime
    submitted_at: dt.datetime | None


def view(db: Database, user_id: int) -> PatientView:
    with db.read() as session:
        patient = find_patient(session, user_id)
        if patient is None:
            return PatientView(False, False)
        case = collecting_case(session, patient.id)
        return PatientView(
            known=True,
            # Consent to an earlier text does not cover what the current text says: ask again.
            consented=patient.consent_at is not None and patient.consent_version == CONSENT_VERSION,
            outdated_consent=patient.consent_at is not None and patient.consent_version != CONSENT_VERSION,
            collecting_case=case.id if case else None,
            photos=image_count(session, case.id) if case else 0,
            description_chars=len(case.description or "") if case else 0,
            training_consent=patient.training_consent,
        )


def consent(db: Database, user_id: int, chat_id: int, language: str | None) -> None:
    """The first question (the service): stored with the consent text's version. The second one
    (training) is asked anew after it: any earlier answer belonged to an earlier consent."""
    with db.write() as session:
        patient = ensure_patient(session, user_id, chat_id, language)
        give_consent(session, patient, CONSENT_VERSION)
        patient.refused_at = None
        patient.training_consent = None
        patient.training_consent_at = None


def refuse(db: Database, user_id: int, chat_id: int) -> None:
    """Record only the refusal (and withdraw consent if it had been given, training use included)."""
    now = utcnow()
    with db.write() as session:
        patient = ensure_patient(session, user_id, chat_id)
        patient.consent_at = None
        patient.refused_at = now
        if patient.training_consent:
            patient.training_consent = False
            patient.training_consent_at = now


def privacy(db: Database, user_id: int) -> PrivacyView:
    """The stored answers to both consent questions (nothing is created for an unknown user)."""
    with db.read() as session:
        patient = find_patient(session, user_id)
        if patient is None:
            return PrivacyView(False, False)
        return _privacy_view(patient)


def _privacy_view(patient: Patient) -> PrivacyView:
    return PrivacyView(
        known=True,
        consented=patient.consent_at is not None,
        consent_version=patient.consent_version,
        consent_at=patient.consent_at,
        refused_at=patient.refused_at,
        training_consent=patient.training_consent,
        training_consent_at=patient.training_consent_at,
    )


def set_training_consent(db: Database, user_id: int, agreed: bool) -> PrivacyView | Refusal:
    """The second question: may the patient's approved cases train the model? Stored with its time;
    asked after the service consent and changeable at any time. Training reads it when it runs, so
    a "no" keeps the patient's cases out of every later training run and its held-out set."""
    with db.write() as session:
        patient = find_patient(session, user_id)
        if patient is None or patient.consent_at is None:
            return Refusal("no_consent")
        if patient.training_consent is not agreed:  # pressing the same answer twice keeps its first time
            patient.training_consent = agreed
            patient.training_consent_at = utcnow()
        return _privacy_view(patient)


def _consenting_patient(session, user_id: int) -> Patient:
    patient = find_patient(session, user_id)
    if patient is None or patient.consent_at is None:
        raise PermissionError("no consent")
    return patient


def check_document(mime_type: str | None, file_name: str | None) -> Refusal | None:
    """Whether a document (a file sent uncompressed) may be a photo, from what Telegram says about
    it, before anything is downloaded; the bytes are checked again when they arrive."""
    mime = (mime_type or "").lower().split(";")[0].strip()
    suffix = Path(file_name or "").suffix.lower()
    unknown = not mime or mime == "application/octet-stream"
    if mime in PHOTO_MIME_TYPES or (unknown and suffix in PHOTO_EXTENSIONS):
        return None
    if mime.startswith("image/") or mime in OTHER_IMAGE_MIME_TYPES or suffix in OTHER_IMAGE_EXTENSIONS:
        return Refusal("unsupported_format")
    return Refusal("not_an_image_type")


def check_room(db: Database, user_id: int, limits: IntakeConfig) -> Refusal | None:
    """Whether the patient's open case can take one more photo: asked before a photo is downloaded
    (``attach_photo`` checks again when it is added)."""
    with db.read() as session:
        patient = find_patient(session, user_id)
        case = collecting_case(session, patient.id) if patient is not None else None
        if case is not None and image_count(session, case.id) >= limits.max_photos:
            return Refusal("too_many_photos", limits.max_photos)
    return None


def store_photo(store: ImageStore, data: bytes, limits: IntakeConfig, *, max_pixels: int) -> StoredImage | Refusal:
    """Check a photo's size, format (JPEG, PNG or WebP) and pixel count (from its header), decode it
    in full from memory and store it re-encoded without metadata (EXIF, GPS, XMP, ICC; turned upright)
    and encrypted (:class:`ImageStore`; no database: decoding a large photo must not hold up anyone's
    transaction). ``data`` itself is never written to disk. Nothing is written for a refused photo."""
    if len(data) > limits.max_file_bytes:
        return Refusal("file_too_large", limits.max_file_bytes)
    try:
        return store.put(data, max_pixels=max_pixels)
    except UnsupportedImageFormat:
        return Refusal("unsupported_format")
    except ImageTooLarge:
        return Refusal("too_many_pixels", max_pixels)
    except ImageError as exc:
        return Refusal("not_an_image", detail=str(exc))


def discard_photo(db: Database, store: ImageStore, sha256: str) -> int:
    """Remove a stored file that no case refers to (a photo refused after it was stored)."""
    with db.read() as session:
        return store.delete_unreferenced(session, {sha256})


def attach_photo(
    db: Database,
    user_id: int,
    stored: StoredImage,
    limits: IntakeConfig,
    *,
    file_id: str | None = None,
    file_unique_id: str | None = None,
    prompt_id: int = 1,
) -> Added | Refusal:
    """Add a stored photo to the patient's open case (opening one if needed, drafted later with
    template ``prompt_id``), within the limit."""
    with db.write() as session:
        patient = _consenting_patient(session, user_id)
        case = open_case(session, patient.id, prompt_id=prompt_id, language=patient.language)
        count = image_count(session, case.id)
        if count >= limits.max_photos:
            return Refusal("too_many_photos", limits.max_photos)
        add_image(session, case.id, stored, telegram_file_id=file_id, telegram_file_unique_id=file_unique_id)
        return Added(case.id, count + 1, len(case.description or ""))


def add_description(
    db: Database, user_id: int, text: str, limits: IntakeConfig, *, prompt_id: int = 1
) -> Added | Refusal:
    """Append text to the open case's description, within the configured length (a new case is
    drafted later with template ``prompt_id``)."""
    text = text.strip()
    if not text:
        return Refusal("empty")
    with db.write() as session:
        patient = _consenting_patient(session, user_id)
        case = open_case(session, patient.id, prompt_id=prompt_id, language=patient.language)
        combined = f"{case.description}\n{text}" if case.description else text
        if len(combined) > limits.max_description_chars:
            return Refusal("too_long", limits.max_description_chars, detail=str(len(case.description or "")))
        case.description = combined
        return Added(case.id, image_count(session, case.id), len(combined))


def _nothing_to_submit(connection, patient_id: int) -> Refusal:
    """A press of Submit with no case being collected: a left-over button of a submitted case says so."""
    submitted = newest_submitted_case(connection, patient_id)
    return Refusal("already_submitted", submitted) if submitted is not None else Refusal("nothing")


def _check_submission(found: OpenCase, limits: IntakeConfig) -> Refusal | Queueing:
    """Whether an open case can be submitted (pure); what it owes if so."""
    description = (found.description or "").strip()
    if found.photos == 0:
        return Refusal("no_photo")
    if not description:
        return Refusal("no_description")
    if len(description) < limits.min_description_chars:
        return Refusal("too_short", limits.min_description_chars)
    flags = red_flags(description)
    urgent, labels = bool(flags), [f.label for f in flags]
    case_id, chat_id = found.case_id, found.chat_id
    owed = [
        Owed(
            kinds.CASE_RECEIVED,
            chat_id,
            {"case_id": case_id, "urgent": urgent, "photos": found.photos},
            dedupe_key=f"{kinds.CASE_RECEIVED}:{case_id}",
        )
    ]
    if urgent:
        owed.append(Owed(kinds.URGENT_ADVICE, chat_id, {"case_id": case_id, "flags": labels}))
        owed.append(Owed(kinds.URGENT_ALERT, None, {"case_id": case_id, "flags": labels}))
    return Queueing(case_id, urgent, [f.id for f in flags], owed, tuple(labels))


def submit_many(
    db: Database, user_ids: Sequence[int], limits: IntakeConfig, *, max_attempts: int
) -> list[Submitted | Refusal | PermissionError]:
    """Close the open case of each user: queued with its drafting job, acknowledged, red flags
    raised, atomically, in one short transaction for all of them (``dermvqa.storage.submission``:
    a crowd pressing Submit at once waits on this). Results in the order of ``user_ids``; a user
    without consent gets a PermissionError. ``Submitted.deliver`` holds each patient's messages as
    written, for the bot to send at once."""
    with db.write_core() as connection:
        return submit_many_in(connection, user_ids, limits, max_attempts=max_attempts)


def submit_many_in(
    transaction: Session | Connection, user_ids: Sequence[int], limits: IntakeConfig, *, max_attempts: int
) -> list[Submitted | Refusal | PermissionError]:
    """:func:`submit_many` in the caller's write transaction (shared with other writes:
    ``dermvqa.storage.shared_writes``); its statements bypass the ORM either way
    (``dermvqa.storage.hot_statements``)."""
    connection = transaction.connection() if isinstance(transaction, Session) else transaction
    results: list[Submitted | Refusal | PermissionError | None] = [None] * len(user_ids)
    found = load_open_cases(connection, user_ids)
    checked: dict[int, tuple[int, OpenCase, Queueing]] = {}  # by case id: the first press of each
    for index, user_id in enumerate(user_ids):
        case = found.get(user_id)
        if case is None or case.consent_at is None:
            results[index] = PermissionError("no consent")
        elif case.case_id is None:
            results[index] = _nothing_to_submit(connection, case.patient_id)
        elif case.case_id in checked:  # the same case twice in one batch: the second is told it is done
            results[index] = Refusal("already_submitted", case.case_id)
        else:
            verdict = _check_submission(case, limits)
            if isinstance(verdict, Refusal):
                results[index] = verdict
            else:
                checked[case.case_id] = (index, case, verdict)
    queued = queue_cases(connection, [q for _, _, q in checked.values()], max_attempts=max_attempts, now=utcnow())
    for case_id, (index, case, verdict) in checked.items():
        if case_id not in queued:  # withdrawn or submitted by another process meanwhile
            results[index] = _nothing_to_submit(connection, case.patient_id)
            continue
        deliver = tuple(row for row in queued[case_id] if row.chat_id is not None)
        results[index] = Submitted(case_id, verdict.urgent, verdict.labels, case.photos, deliver)
    return [r for r in results if r is not None]


def submit(db: Database, user_id: int, limits: IntakeConfig, *, max_attempts: int) -> Submitted | Refusal:
    """:func:`submit_many` for one user."""
    (result,) = submit_many(db, [user_id], limits, max_attempts=max_attempts)
    if isinstance(result, PermissionError):
        raise result
    return result


def withdraw(db: Database, user_id: int) -> CaseSummary | Refusal:
    """The patient cancels their latest case that no clinician has acted on yet."""
    now = utcnow()
    with db.write() as session:
        patient = find_patient(session, user_id)
        if patient is None:
            return Refusal("nothing")
        case = session.scalar(
            select(Case)
            .where(Case.patient_id == patient.id, Case.state.in_(list(WITHDRAWABLE)))
            .order_by(Case.id.desc())
        )
        if case is None:
            return Refusal("nothing")
        previous = CaseState(case.state)
        if not transition(session, case.id, CaseState.WITHDRAWN, expected=[previous]):
            return Refusal("changed")
        cancel_for_case(session, case.id, "withdrawn by the patient", now)
        if previous != CaseState.COLLECTING:
            add_message(
                session, kinds.WITHDRAWN, chat_id=patient.chat_id, case_id=case.id, payload={"case_id": case.id}
            )
            close_review_posts(session, case.id, "withdrawn by the patient")
        photos = image_count(session, case.id)
        return CaseSummary(case.id, CaseState.WITHDRAWN, case.urgent, photos, case.created_at, case.submitted_at)


def cases_of(db: Database, user_id: int, limit: int = 20) -> list[CaseSummary]:
    with db.read() as session:
        patient = find_patient(session, user_id)
        if patient is None:
            return []
        cases = session.scalars(
            select(Case).where(Case.patient_id == patient.id).order_by(Case.id.desc()).limit(limit)
        ).all()
        return [
            CaseSummary(c.id, CaseState(c.state), c.urgent, image_count(session, c.id), c.created_at, c.submitted_at)
            for c in cases
        ]


def delete_everything(db: Database, store: ImageStore, user_id: int, chat_id: int) -> Deleted:
    """Erase the patient: everything that is theirs (``dermvqa.casework.erasure``)."""
    return erase_patient(db, store, user_id, chat_id)

"""Make submitted cases with real photos in a real database, for queue and worker tests."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image

from dermvqa.casework.review import CaseDetail
from dermvqa.states import CaseState
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore, StoredImage
from dermvqa.storage.intake import add_image, ensure_patient, open_case
from dermvqa.storage.models import utcnow
from dermvqa.storage.submission import Queueing, queue_cases


def photo_bytes(color=(180, 90, 70), size=(64, 48), fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def raw_stored(store: ImageStore, data: bytes) -> StoredImage:
    """Put bytes in the store (encrypted) WITHOUT validation or cleaning (a photo that was corrupt before
    it was stored)."""
    return StoredImage(store.save(data), len(data), 1, 1, "image/jpeg")


def submit(
    db: Database,
    store: ImageStore,
    user_id: int,
    *,
    photos: list[bytes] | None = None,
    stored: list[StoredImage] | None = None,
    text: str = "Itchy red patch on my arm for two weeks",
    urgent: bool = False,
    prompt_id: int = 1,
    training_consent: bool | None = True,
) -> int:
    """A consenting patient submits a case; returns the case id. ``training_consent`` is the answer to
    the second consent question (may approved cases train the model? None: never asked)."""
    with db.write() as session:
        patient = ensure_patient(session, user_id, user_id)
        patient.training_consent = training_consent
        case = open_case(session, patient.id, prompt_id=prompt_id)
        case.description = text
        for item in stored or [store.put(p, max_pixels=10**9) for p in (photos or [photo_bytes()])]:
            add_image(session, case.id, item)
        session.flush()
        queued = queue_cases(  # the Submit transaction's own statements (dermvqa.storage.submission)
            session.connection(), [Queueing(case.id, urgent, [], ())], max_attempts=3, now=utcnow()
        )
        assert case.id in queued
        return case.id


def case_detail(**kw) -> CaseDetail:
    """A review card's case (what ``bot.rendering.review_post`` shows), with ``kw`` changed."""
    base = dict(
        case_id=7,
        state=CaseState.AWAITING_REVIEW,
        urgent=False,
        urgent_reasons=(),
        description="Itchy.",
        photo_file_ids=("f1",),
        photo_hashes=("h1",),
        draft_id=3,
        draft_text="Eczema.",
        model_version="m@1",
        prompt_id=1,
        failure=None,
        submitted_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    base.update(kw)
    return CaseDetail(**base)

"""The retention purge on a real database, under a fixed clock: cases in each state around each cutoff,
photo files, the outbox, the message log and the audit; the count-only report; a second run is a no-op."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from support.cases import photo_bytes

from dermvqa.casework.purge import LAST_REPORT, PENDING_FILES, last_report, purge
from dermvqa.config import RetentionConfig
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.intake import add_image, ensure_patient, open_case
from dermvqa.storage.models import (
    Case,
    CaseAudit,
    CaseImage,
    ClinicianSession,
    Draft,
    Job,
    MessageLog,
    ModelRecord,
    OutboxMessage,
    Review,
    ServiceFlag,
    TrainingRun,
    TrainingRunCase,
)
from dermvqa.storage.outbox import WITHDRAW_POST

NOW = dt.datetime(2026, 6, 1, 3, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
FOREVER_BUT_CASES = {"outbox_days": 0, "message_log_days": 0, "audit_days": 0}
_colors = iter(range(1, 10_000))


def unique_photo() -> bytes:
    n = next(_colors)
    return photo_bytes(size=(32 + n, 24))  # a size of its own: a different photo whatever the encoder does


def file_of(store: ImageStore, sha: str) -> Path:
    return store.path_for(sha)


def make_case(db, store, user: int, state: str, at: dt.datetime, *, photos: list[bytes] | None = None) -> int:
    """A case in ``state`` that reached it at ``at``, with a photo, a draft, a review, a job, a logged
    message, a delivered outbox row and a clinician's unfinished edit."""
    with db.write() as s:
        patient = ensure_patient(s, user, user)
        patient.consent_at = NOW - 1000 * DAY
        case = open_case(s, patient.id)
        case.description = "words a patient wrote"
        for data in photos if photos is not None else [unique_photo()]:
            add_image(s, case.id, store.put(data, max_pixels=10**9))
        s.flush()
        values: dict = {"state": state, "updated_at": at, "created_at": at - DAY}
        if state == "answered":
            values |= {"answered_at": at, "reviewed_at": at - MINUTE}
        elif state == "rejected":
            values["reviewed_at"] = at
        s.execute(update(Case).where(Case.id == case.id).values(**values))
        job = Job(case_id=case.id, state="done", created_at=at)
        s.add(job)
        s.flush()
        draft = Draft(case_id=case.id, job_id=job.id, text="a draft", model_version="m", prompt_id=1, created_at=at)
        s.add(draft)
        s.flush()
        s.add(Review(case_id=case.id, draft_id=draft.id, clinician_id=7, action="approve", created_at=at))
        s.add(ClinicianSession(clinician_id=7, chat_id=user, case_id=case.id, action="edit", state="awaiting_text"))
        s.add(MessageLog(patient_id=patient.id, case_id=case.id, chat_id=user, direction="in", kind="text", text="hi"))
        s.add(OutboxMessage(kind="case_received", chat_id=user, case_id=case.id, state="sent", sent_at=NOW))
        return case.id


def hashes_of(db, case_id: int) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(CaseImage.sha256).where(CaseImage.case_id == case_id)))


def count(db, model, *where) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def case_ids(db) -> set[int]:
    with db.read() as s:
        return set(s.scalars(select(Case.id)))


AGES = {"answered": 365, "rejected": 365, "withdrawn": 30, "failed": 90}


def test_exactly_the_due_cases_go_with_everything_that_cascades(any_db, store):
    db = any_db
    due, kept = {}, {}
    user = 100
    for state, days in AGES.items():
        user += 1
        due[state] = make_case(db, store, user, state, NOW - days * DAY - MINUTE)
        user += 1
        kept[state] = make_case(db, store, user, state, NOW - days * DAY + MINUTE)
    in_progress = [
        make_case(db, store, 200 + i, state, NOW - 5000 * DAY)
        for i, state in enumerate(["collecting", "queued", "drafting", "awaiting_review", "approved"])
    ]
    # Answered long ago but touched lately: aged by answered_at, so due. Rejected lately, old otherwise: kept.
    late_touch = make_case(db, store, 300, "answered", NOW - 400 * DAY)
    with db.write() as s:
        s.execute(update(Case).where(Case.id == late_touch).values(updated_at=NOW - DAY))
    recent_reject = make_case(db, store, 301, "rejected", NOW - 400 * DAY)
    with db.write() as s:
        s.execute(update(Case).where(Case.id == recent_reject).values(reviewed_at=NOW - 10 * DAY))
    gone = [*due.values(), late_touch]
    stay = [*kept.values(), *in_progress, recent_reject]
    gone_files = [file_of(store, h) for c in gone for h in hashes_of(db, c)]
    stay_files = [file_of(store, h) for c in stay for h in hashes_of(db, c)]
    assert all(f.exists() for f in gone_files + stay_files)

    report = purge(db, store, RetentionConfig(**FOREVER_BUT_CASES), NOW)

    assert case_ids(db) == set(stay)
    assert (report.cases_answered, report.cases_rejected, report.cases_withdrawn, report.cases_failed) == (2, 1, 1, 1)
    assert (report.photos, report.photo_files, report.cases_kept_owed) == (5, 5, 0)
    assert (report.outbox, report.message_log, report.audit) == (0, 0, 0)
    assert not any(f.exists() for f in gone_files)
    assert all(f.exists() for f in stay_files)
    for model in (CaseImage, Draft, Review, Job, MessageLog, OutboxMessage, ClinicianSession):
        assert count(db, model, model.case_id.in_(gone)) == 0, model.__name__
        assert count(db, model, model.case_id.in_(stay)) == len(stay), model.__name__
    saved, _ = last_report(db)
    assert saved == report and not saved.dry_run

    again = purge(db, store, RetentionConfig(**FOREVER_BUT_CASES), NOW)
    assert (again.cases, again.photos, again.photo_files, again.outbox, again.message_log, again.audit) == (0,) * 6
    assert case_ids(db) == set(stay)
    assert last_report(db)[0] == again


def test_a_photo_shared_with_a_remaining_case_stays_until_that_case_goes(db, store):
    shared = unique_photo()
    withdrawn = make_case(db, store, 1, "withdrawn", NOW - 31 * DAY, photos=[shared])
    answered = make_case(db, store, 2, "answered", NOW - 10 * DAY, photos=[shared])
    path = file_of(store, hashes_of(db, withdrawn)[0])
    report = purge(db, store, RetentionConfig(), NOW)
    assert (report.cases, report.photos, report.photo_files) == (1, 1, 0)
    assert case_ids(db) == {answered} and path.exists()
    report = purge(db, store, RetentionConfig(), NOW + 356 * DAY)
    assert (report.cases_answered, report.photo_files) == (1, 1)
    assert not path.exists() and case_ids(db) == set()


def test_a_due_case_with_a_message_still_owed_is_kept_until_it_is_delivered(db, store):
    case_id = make_case(db, store, 1, "rejected", NOW - 400 * DAY)
    with db.write() as s:
        s.add(OutboxMessage(kind="rejected", chat_id=1, case_id=case_id, state="pending"))
    report = purge(db, store, RetentionConfig(), NOW)
    assert (report.cases, report.cases_kept_owed) == (0, 1)
    assert case_ids(db) == {case_id}
    with db.write() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.state == "pending").values(state="sent", sent_at=NOW))
    report = purge(db, store, RetentionConfig(), NOW)
    assert (report.cases_rejected, report.cases_kept_owed) == (1, 0)
    assert case_ids(db) == set()


def test_a_failed_case_regenerated_is_not_purged(db, store):
    case_id = make_case(db, store, 1, "failed", NOW - 100 * DAY)
    with db.write() as s:
        s.execute(update(Case).where(Case.id == case_id).values(state="queued"))  # a clinician regenerated it
    assert purge(db, store, RetentionConfig(), NOW).cases == 0
    assert case_ids(db) == {case_id}


def outbox(s, kind: str, state: str, at: dt.datetime, **extra) -> OutboxMessage:
    row = OutboxMessage(kind=kind, state=state, created_at=at, next_attempt_at=at, **extra)
    if state == "sent":
        row.sent_at = at
    s.add(row)
    s.flush()
    return row


def test_outbox_message_log_and_audit_are_purged_by_age(any_db, store):
    db = any_db
    old, recent = NOW - 8 * DAY, NOW - 6 * DAY
    settled = make_case(db, store, 1, "answered", NOW - 10 * DAY)  # not due itself (365 days)
    waiting = make_case(db, store, 2, "awaiting_review", NOW - 10 * DAY)
    with db.write() as s:
        s.execute(update(OutboxMessage).values(sent_at=NOW))  # make_case's rows: recent
        going = [
            outbox(s, "room_locked", "sent", old, chat_id=-100).id,  # no case, delivered long ago
            outbox(s, "urgent_alert", "failed", old).id,  # no case, failed for good long ago
            outbox(s, "answer", "sent", old, chat_id=1, case_id=settled).id,  # a settled case's delivered answer
        ]
        staying = [
            outbox(s, "room_locked", "sent", recent, chat_id=-100).id,
            outbox(s, "case_received", "pending", old, chat_id=3).id,  # still owed
            outbox(s, "review_request", "sent", old, chat_id=-100, case_id=settled).id,  # a post stays with its case
            outbox(s, "review_request", "sent", old, chat_id=-100, case_id=waiting).id,  # a case in progress
            outbox(s, "case_stuck", "sent", old, case_id=waiting, dedupe_key="watchdog:stuck:x").id,
        ]
        # Watchdog reports of failed messages: one goes with its failed row, one stays while its row does.
        failed_old = outbox(s, "answer", "failed", old, chat_id=5)
        failed_recent = outbox(s, "answer", "failed", recent, chat_id=6)
        going += [
            failed_old.id,
            outbox(s, "delivery_failed", "sent", old, dedupe_key=f"watchdog:failed:{failed_old.id}").id,
        ]
        staying += [
            failed_recent.id,
            outbox(s, "delivery_failed", "sent", old, dedupe_key=f"watchdog:failed:{failed_recent.id}").id,
        ]
        for days in (29, 31, 45):
            s.add(MessageLog(chat_id=9, direction="out", kind="text", text="t", created_at=NOW - days * DAY))
        for days in (3649, 3651, 4000):
            s.add(CaseAudit(case_key="k" * 64, action="approve", clinician_id=7, at=NOW - days * DAY))

    report = purge(db, store, RetentionConfig(), NOW)

    with db.read() as s:
        remaining = set(s.scalars(select(OutboxMessage.id)))
        logged = sorted(s.scalars(select(MessageLog.created_at)))
        audited = list(s.scalars(select(CaseAudit.at)))
    assert not remaining & set(going)
    assert set(staying) <= remaining
    assert report.outbox == len(going) == 5
    assert report.message_log == 2 and NOW - 29 * DAY in logged and len(logged) == 3  # + make_case's two
    assert report.audit == 2 and audited == [NOW - 3649 * DAY]
    assert report.cases == 0 and case_ids(db) == {settled, waiting}
    again = purge(db, store, RetentionConfig(), NOW)
    assert (again.outbox, again.message_log, again.audit) == (0, 0, 0)


def test_review_posts_of_purged_cases_are_withdrawn_from_the_review_chat(db, store):
    case_id = make_case(db, store, 1, "answered", NOW - 366 * DAY)
    parts = [{"op": "album", "photos": ["a", "b"]}, {"op": "message", "text": "the case"}]
    with db.write() as s:
        outbox(
            s,
            "review_request",
            "sent",
            NOW - 366 * DAY,
            chat_id=-100,
            case_id=case_id,
            payload={"parts": parts},
            telegram_message_ids=[11, 12, 13],
        )
    report = purge(db, store, RetentionConfig(), NOW)
    assert (report.cases, report.review_posts) == (1, 1)
    with db.read() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == WITHDRAW_POST))
    assert (row.chat_id, row.case_id, row.state) == (-100, None, "pending")
    assert [m["message_id"] for m in row.payload["messages"]] == [11, 12, 13]


def test_a_dry_run_counts_exactly_and_deletes_nothing(db, store):
    due = [make_case(db, store, 1, "withdrawn", NOW - 40 * DAY), make_case(db, store, 2, "failed", NOW - 91 * DAY)]
    kept = make_case(db, store, 3, "answered", NOW - 40 * DAY)
    with db.write() as s:
        s.add(CaseAudit(case_key="k" * 64, action="reject", clinician_id=7, at=NOW - 3651 * DAY))
        s.add(MessageLog(chat_id=9, direction="out", kind="text", text="t", created_at=NOW - 31 * DAY))
    files = [file_of(store, h) for c in due for h in hashes_of(db, c)]

    dry = purge(db, store, RetentionConfig(), NOW, dry_run=True)

    assert dry.dry_run and (dry.cases_withdrawn, dry.cases_failed, dry.photos, dry.photo_files) == (1, 1, 2, 2)
    assert (dry.audit, dry.message_log) == (1, 1)
    assert case_ids(db) == {*due, kept} and all(f.exists() for f in files)
    assert count(db, CaseAudit) == 1 and last_report(db) is None
    real = purge(db, store, RetentionConfig(), NOW)
    fields = ("cases_withdrawn", "cases_failed", "photos", "photo_files", "audit", "message_log", "outbox")
    assert [getattr(real, f) for f in fields] == [getattr(dry, f) for f in fields]
    assert case_ids(db) == {kept} and not any(f.exists() for f in files)


def test_files_left_by_a_purge_that_stopped_are_removed_by_the_next(db, store, monkeypatch):
    case_id = make_case(db, store, 1, "withdrawn", NOW - 31 * DAY)
    path = file_of(store, hashes_of(db, case_id)[0])

    def crash(session, hashes):
        raise OSError("the process died here")

    monkeypatch.setattr(store, "delete_unreferenced", crash)
    with pytest.raises(OSError):
        purge(db, store, RetentionConfig(), NOW)
    monkeypatch.undo()
    assert case_ids(db) == set() and path.exists()  # the rows went, the file is still there
    assert count(db, ServiceFlag, ServiceFlag.name == PENDING_FILES) == 1

    report = purge(db, store, RetentionConfig(), NOW)
    assert (report.cases, report.photo_files) == (0, 1)
    assert not path.exists()
    assert count(db, ServiceFlag, ServiceFlag.name == PENDING_FILES) == 0


def test_the_write_ahead_log_is_checkpointed_and_truncated(db, store, tmp_path):
    for user in range(1, 6):
        make_case(db, store, user, "withdrawn", NOW - 31 * DAY)
    wal = tmp_path / "dermbot.sqlite3-wal"
    assert wal.stat().st_size > 0  # the schema and the cases went through the log
    report = purge(db, store, RetentionConfig(), NOW)
    assert report.cases_withdrawn == 5
    assert wal.stat().st_size == 0  # checkpointed, then truncated


def test_the_report_holds_counts_only(db, store):
    make_case(db, store, 1, "withdrawn", NOW - 31 * DAY)
    purge(db, store, RetentionConfig(), NOW)
    with db.read() as s:
        value = s.get(ServiceFlag, LAST_REPORT).value
    assert value["cases_withdrawn"] == 1
    assert all(isinstance(v, int | float | bool | str) for v in value.values())
    assert "words a patient wrote" not in repr(value)


def test_models_trained_on_purged_cases_are_tainted_but_not_in_a_dry_run(db, store):
    purged = make_case(db, store, 1, "answered", NOW - 366 * DAY)
    kept = make_case(db, store, 2, "answered", NOW - 10 * DAY)
    with db.write() as s:
        models = [ModelRecord(backend="hf", name="base", adapter_path=f"/m/{i}") for i in range(2)]
        s.add_all(models)
        s.flush()
        for model, case_id in zip(models, (purged, kept), strict=True):
            run = TrainingRun(status="rejected", candidate_model_id=model.id)
            s.add(run)
            s.flush()
            s.add(TrainingRunCase(run_id=run.id, case_id=case_id))
        model_ids = [m.id for m in models]
    assert purge(db, store, RetentionConfig(), NOW, dry_run=True).models_tainted == 0
    with db.read() as s:
        assert s.scalar(select(func.count()).where(ModelRecord.tainted_at.is_not(None))) == 0
    report = purge(db, store, RetentionConfig(), NOW)
    assert (report.cases_answered, report.models_tainted) == (1, 1)
    with db.read() as s:
        tainted = {m.id: m.tainted_at for m in s.scalars(select(ModelRecord))}
    assert tainted[model_ids[0]] is not None and tainted[model_ids[1]] is None

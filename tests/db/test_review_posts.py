"""A review button acts only on the case and draft of the recorded post it is on; ids are never reused."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, select, text
from support.cases import submit

from dermvqa.casework import kinds, review
from dermvqa.casework.intake import delete_everything
from dermvqa.casework.posts import PostRef
from dermvqa.states import CaseState
from dermvqa.storage.database import alembic_config, open_database, upgrade
from dermvqa.storage.delivery import OutboxRow, RowOutcome, record_outcomes
from dermvqa.storage.intake import ensure_patient
from dermvqa.storage.models import Case, CaseImage, ClinicianSession, Draft, OutboxMessage, Patient, utcnow
from dermvqa.storage.outbox import add_message

CHAT = -100500  # the review group
CLINICIAN = 900


def awaiting_review(db, store, user_id: int) -> tuple[int, int]:
    """A submitted case with a draft, waiting for review; returns (case id, draft id)."""
    case_id = submit(db, store, user_id)
    with db.write() as session:
        draft = Draft(case_id=case_id, text="Looks like eczema.", model_version="m@1", prompt_id=1)
        session.add(draft)
        session.flush()
        session.execute(Case.__table__.update().where(Case.id == case_id).values(state=CaseState.AWAITING_REVIEW.value))
        return case_id, draft.id


def post_parts(case_id: int, draft_id: int) -> list[dict]:
    return [
        {"op": "photo", "photo": {"file_id": "f", "sha256": "s"}, "caption": f"Case #{case_id}"},
        {"op": "message", "text": f"Case #{case_id} ...", "buttons": [[["Approve", "x"]]], "draft_id": draft_id},
    ]


def queue_post(db, case_id: int, draft_id: int) -> OutboxRow:
    with db.write() as session:
        row = add_message(session, kinds.REVIEW_REQUEST, chat_id=CHAT, case_id=case_id, payload={"draft_id": draft_id})
        return OutboxRow(row.id, row.kind, row.chat_id, row.case_id, dict(row.payload), 0, 0, ())


def record_sent(db, row: OutboxRow, message_ids: list[int]) -> None:
    """What the sender records once the post's two parts (photo, text with buttons) went out."""
    parts = post_parts(row.case_id, row.payload["draft_id"])
    outcome = RowOutcome(row, parts=parts, progress=2, message_ids=message_ids, delivered=[0, 1], done=True)
    record_outcomes(db, [outcome], max_attempts=3, now=utcnow())


def posted(db, store, user_id: int, message_ids: list[int]) -> tuple[int, int]:
    case_id, draft_id = awaiting_review(db, store, user_id)
    record_sent(db, queue_post(db, case_id, draft_id), message_ids)
    return case_id, draft_id


def answers(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.kind == kinds.ANSWER)) or 0


def state(db, case_id: int) -> CaseState | None:
    with db.read() as session:
        value = session.scalar(select(Case.state).where(Case.id == case_id))
        return CaseState(value) if value else None


# -- ids ---------------------------------------------------------------------------------------


def test_a_deleted_patients_case_number_is_never_given_again(any_db, store):
    first, first_draft = awaiting_review(any_db, store, 1)
    first_post = queue_post(any_db, first, first_draft)
    record_sent(any_db, first_post, [10, 11])
    delete_everything(any_db, store, 1, 1)  # the real /delete path: the case, its draft and post rows go
    second, second_draft = awaiting_review(any_db, store, 2)
    second_post = queue_post(any_db, second, second_draft)
    assert second > first  # SQLite without AUTOINCREMENT handed out `first` again
    assert second_draft > first_draft
    assert second_post.id > first_post.id


def test_a_clinician_session_id_is_never_given_again(any_db, store):
    case_id, draft_id = posted(any_db, store, 1, [10, 11])
    ok = review.begin_session(any_db, CLINICIAN, CHAT, case_id, draft_id, review.EDIT, post=PostRef(CHAT, 11))
    assert ok.ok
    with any_db.read() as session:
        first = session.scalar(select(ClinicianSession.id))
    review.end_session(any_db, CLINICIAN, CHAT)
    assert review.begin_session(any_db, CLINICIAN, CHAT, case_id, draft_id, review.EDIT, post=PostRef(CHAT, 11)).ok
    with any_db.read() as session:
        assert session.scalar(select(ClinicianSession.id)) > first


def test_the_migration_keeps_every_row_and_its_children(tmp_path, store, data_key):
    """0004 rebuilds the tables on SQLite: children must survive (no cascade), ids continue upward."""
    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}", key=data_key)
    command.upgrade(alembic_config(db.url), "0003")
    # The ORM maps today's columns: lend the 0003 tables the ones later migrations add while seeding them.
    later_columns = (
        ("patients", "training_consent BOOLEAN"),
        ("patients", "training_consent_at DATETIME"),
        ("cases", "closed_qa JSON"),
        ("cases", "questionnaire JSON"),
    )
    with db.write() as session:
        for table, column in later_columns:
            session.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}"))
    case_id = submit(db, store, 1)
    with db.write() as session:
        session.add(Draft(case_id=case_id, text="t", model_version="m", prompt_id=1))
        session.add(ClinicianSession(clinician_id=1, chat_id=1, case_id=case_id, action="edit", state="awaiting_text"))
        add_message(session, kinds.REVIEW_REQUEST, chat_id=CHAT, case_id=case_id, payload={})
        for table, column in later_columns:
            session.execute(text(f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}"))
    upgrade(db)
    with db.read() as session:
        assert session.scalar(select(Case.id)) == case_id
        for model in (CaseImage, Draft, ClinicianSession, OutboxMessage):
            assert session.scalar(select(func.count()).select_from(model)) >= 1, model.__tablename__
        schema = session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'cases'")).scalar()
        assert "AUTOINCREMENT" in schema
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    delete_everything(db, store, 1, 1)  # the cascade still works on the rebuilt tables
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 0
        assert (
            session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.case_id.is_not(None)))
            == 0
        )
    assert submit(db, store, 2) > case_id
    db.dispose()


# -- the post check ----------------------------------------------------------------------------


def test_the_button_of_the_recorded_post_approves(any_db, store):
    case_id, draft_id = posted(any_db, store, 1, [10, 11])
    decision = review.approve(any_db, case_id, draft_id, CLINICIAN, post=PostRef(CHAT, 11))
    assert decision.ok and state(any_db, case_id) == CaseState.APPROVED and answers(any_db) == 1


@pytest.mark.parametrize(
    "where",
    [PostRef(CHAT, 99), PostRef(-100777, 11)],
    ids=["other-message", "other-chat"],
)
def test_a_button_on_a_post_not_recorded_for_the_case_changes_nothing(any_db, store, where):
    case_id, draft_id = posted(any_db, store, 1, [10, 11])
    assert review.approve(any_db, case_id, draft_id, CLINICIAN, post=where).reason == "missing"
    assert review.regenerate(any_db, case_id, CLINICIAN, draft_id=draft_id, post=where).reason == "missing"
    started = review.begin_session(any_db, CLINICIAN, CHAT, case_id, draft_id, review.REJECT, post=where)
    assert (started.ok, started.reason) == (False, "missing")
    assert state(any_db, case_id) == CaseState.AWAITING_REVIEW and answers(any_db) == 0
    assert review.current_session(any_db, CLINICIAN, CHAT) is None


def test_a_button_naming_another_draft_than_its_post_changes_nothing(any_db, store):
    case_id, _ = posted(any_db, store, 1, [10, 11])
    with any_db.write() as session:
        newer = Draft(case_id=case_id, text="Newer.", model_version="m@1", prompt_id=1)
        session.add(newer)
        session.flush()
        newer_id = newer.id
    assert review.approve(any_db, case_id, newer_id, CLINICIAN, post=PostRef(CHAT, 11)).reason == "missing"
    assert state(any_db, case_id) == CaseState.AWAITING_REVIEW and answers(any_db) == 0


def test_a_leftover_post_of_a_deleted_case_cannot_act_on_a_case_that_reuses_its_number(db, store):
    """Even with the old schema's reuse (simulated: B's case gets A's number), the post check refuses."""
    a_case, a_draft = posted(db, store, 1, [10, 11])
    delete_everything(db, store, 1, 1)
    with db.write() as session:  # what SQLite did before 0004: the freed numbers are handed out again
        patient = ensure_patient(session, 2, 2)
        session.add(Case(id=a_case, patient_id=patient.id, state="awaiting_review", description="B's case"))
        session.flush()
        session.add(Draft(id=a_draft, case_id=a_case, text="B's draft.", model_version="m@1", prompt_id=1))
    record_sent(db, queue_post(db, a_case, a_draft), [20, 21])  # B's own post
    decision = review.approve(db, a_case, a_draft, CLINICIAN, post=PostRef(CHAT, 11))  # A's leftover button
    assert (decision.ok, decision.reason) == (False, "missing")
    assert state(db, a_case) == CaseState.AWAITING_REVIEW and answers(db) == 0
    assert review.approve(db, a_case, a_draft, CLINICIAN, post=PostRef(CHAT, 21)).ok  # B's own post works


def test_a_deleted_case_says_missing(any_db, store):
    case_id, draft_id = posted(any_db, store, 1, [10, 11])
    delete_everything(any_db, store, 1, 1)
    assert review.approve(any_db, case_id, draft_id, CLINICIAN, post=PostRef(CHAT, 11)).reason == "missing"
    assert review.regenerate(any_db, case_id, CLINICIAN, draft_id=draft_id, post=PostRef(CHAT, 11)).reason == "missing"


def test_a_post_whose_send_is_not_recorded_yet_asks_to_wait(any_db, store):
    case_id, draft_id = awaiting_review(any_db, store, 1)
    queue_post(any_db, case_id, draft_id)  # sent, not yet recorded
    decision = review.approve(any_db, case_id, draft_id, CLINICIAN, post=PostRef(CHAT, 11))
    assert decision.reason == "unrecorded" and state(any_db, case_id) == CaseState.AWAITING_REVIEW


# -- withdrawing the posts of a deleted case ------------------------------------------------------


def withdrawals(db) -> list[dict]:
    with db.read() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.WITHDRAW_POST)).all()
        assert all(r.case_id is None and r.chat_id == CHAT for r in rows)
        return [m for r in rows for m in r.payload["messages"]]


def test_erasing_a_patient_withdraws_every_delivered_review_message(any_db, store):
    posted(any_db, store, 1, [10, 11])
    delete_everything(any_db, store, 1, 1)
    assert withdrawals(any_db) == [{"message_id": 10, "media": "photo"}, {"message_id": 11, "media": "text"}]


def test_a_post_sent_while_its_case_is_deleted_is_withdrawn_when_recorded(any_db, store):
    case_id, draft_id = awaiting_review(any_db, store, 1)
    row = queue_post(any_db, case_id, draft_id)
    delete_everything(any_db, store, 1, 1)  # the send was in flight: the erasure saw no message ids
    assert withdrawals(any_db) == []
    record_sent(any_db, row, [30, 31])
    assert withdrawals(any_db) == [{"message_id": 30, "media": "photo"}, {"message_id": 31, "media": "text"}]
    with any_db.read() as session:
        assert session.get(Patient, 1) is None

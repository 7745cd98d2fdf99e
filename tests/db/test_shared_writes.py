"""Writes sharing one transaction (``dermvqa.storage.shared_writes``): a Submit batch, the delivery
records of acknowledgements just sent and incoming messages commit together, each write with its
own result; a write that fails fails alone, and the others still commit, once."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import OperationalError
from support.cases import photo_bytes

from dermvqa.casework import intake, kinds
from dermvqa.casework.intake import Submitted
from dermvqa.config import IntakeConfig
from dermvqa.states import CaseState
from dermvqa.storage.conversation import IncomingEntry, record_incoming_in
from dermvqa.storage.delivery import RowOutcome, record_outcomes_in
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import Case, Job, MessageLog, OutboxMessage, utcnow
from dermvqa.storage.shared_writes import Failed, Write, write_together

LIMITS = IntakeConfig()
RASH = "Itchy rash on my forearm for two weeks, slowly spreading."


def ready(db, store: ImageStore, user: int) -> None:
    intake.consent(db, user, user, "en")
    intake.attach_photo(db, user, intake.store_photo(store, photo_bytes(), LIMITS, max_pixels=10**8), LIMITS)
    intake.add_description(db, user, RASH, LIMITS)


def commits_of(db) -> list[int]:
    counted: list[int] = []
    event.listen(db.engine, "commit", lambda _connection: counted.append(1))
    return counted


def sent(result: Submitted, message_id: int) -> RowOutcome:
    (row,) = result.deliver
    return RowOutcome(row, [{"op": "message", "text": "Thank you."}], 1, [message_id], delivered=[0], done=True)


def broken(session, user: int) -> None:
    """A write that gets half way, then fails."""
    session.execute(insert(MessageLog).values(chat_id=user, direction="in", kind="text", created_at=utcnow()))
    raise ValueError("no such thing")


def test_a_submit_batch_its_delivery_records_and_the_incoming_record_commit_together(any_db, tmp_path):
    db, store = any_db, ImageStore(tmp_path / "images")
    for user in (1, 2, 3):
        ready(db, store, user)
    (first,) = intake.submit_many(db, [1], LIMITS, max_attempts=3)
    commits = commits_of(db)

    results = write_together(
        db,
        [
            Write(record_outcomes_in, ([sent(first, 501)],), {"max_attempts": 3, "now": utcnow()}),
            Write(intake.submit_many_in, ([2, 3], LIMITS), {"max_attempts": 3}),
            Write(record_incoming_in, ([IncomingEntry(2, 2, "callback", "submit", 77, False)],)),
        ],
    )

    assert len(commits) == 1  # one transaction for the three
    gone, submitted, kept = results
    assert gone == set() and kept == 1
    assert [type(r) for r in submitted] == [Submitted, Submitted]
    with db.read() as session:
        states = dict(session.execute(select(Case.id, Case.state)).all())
        assert {states[r.case_id] for r in submitted} == {CaseState.QUEUED}
        assert session.scalar(select(OutboxMessage.state).where(OutboxMessage.id == first.deliver[0].id)) == "sent"
        acks = session.scalars(select(OutboxMessage.case_id).where(OutboxMessage.kind == kinds.CASE_RECEIVED)).all()
        assert sorted(acks) == sorted([first.case_id, *(r.case_id for r in submitted)])
        log = session.execute(select(MessageLog.direction, MessageLog.telegram_message_id)).all()
        assert ("out", 501) in log and ("in", 77) in log


def test_a_failing_write_fails_alone_and_the_others_commit_once(any_db, tmp_path):
    db, store = any_db, ImageStore(tmp_path / "images")
    ready(db, store, 4)
    commits = commits_of(db)

    submitted, failed, kept = write_together(
        db,
        [
            Write(intake.submit_many_in, ([4], LIMITS), {"max_attempts": 3}),
            Write(broken, (4,)),
            Write(record_incoming_in, ([IncomingEntry(4, 4, "text", "hello", 78, False)],)),
        ],
    )

    assert isinstance(failed, Failed) and isinstance(failed.error, ValueError)
    assert isinstance(submitted[0], Submitted) and kept == 1
    assert len(commits) == 2  # the shared transaction rolled back; the two good writes, alone
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1  # submitted once
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1  # one acknowledgement
        # nothing of the broken write: only the incoming message recorded by the third
        assert session.execute(select(MessageLog.kind, MessageLog.telegram_message_id)).all() == [("text", 78)]


def test_a_lone_failing_write_is_reported_and_nothing_is_written(db):
    assert [type(r) for r in write_together(db, [Write(broken, (5,))])] == [Failed]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(MessageLog)) == 0
    assert write_together(db, []) == []


def locked(session) -> None:
    raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


def test_a_busy_database_is_every_writes_error_and_nothing_is_written_twice(db, tmp_path):
    ready(db, ImageStore(tmp_path / "images"), 6)
    with pytest.raises(OperationalError):
        write_together(
            db,
            [
                Write(intake.submit_many_in, ([6], LIMITS), {"max_attempts": 3}),
                Write(locked),
                Write(record_incoming_in, ([IncomingEntry(6, 6, "text", "hello", 79, False)],)),
            ],
        )
    with db.read() as session:  # not written alone after the shared transaction rolled back
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(MessageLog)) == 0

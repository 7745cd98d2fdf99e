"""Submits that share one transaction (the bot's group commit): each press keeps its own result,
its case is queued with its drafting job and its acknowledgement in that same transaction, and a
press that cannot submit changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.cases import photo_bytes

from dermvqa.casework import intake, kinds
from dermvqa.casework.intake import Refusal, Submitted
from dermvqa.config import IntakeConfig
from dermvqa.states import CaseState
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import Case, Job, OutboxMessage, utcnow
from dermvqa.storage.submission import Owed, Queueing, load_open_cases, queue_cases

LIMITS = IntakeConfig()
STRICT = IntakeConfig(min_description_chars=20)  # at Submit: "Rash." is too short
RASH = "Itchy rash on my forearm for two weeks, slowly spreading."
URGENT = "A rapidly spreading painful rash with fever and blisters in my mouth since yesterday."


def ready(db, store: ImageStore, user: int, *, photo: bool = True, text: str | None = RASH) -> None:
    intake.consent(db, user, user + 1_000_000, "en")
    if photo:
        stored = intake.store_photo(store, photo_bytes(), LIMITS, max_pixels=10**8)
        intake.attach_photo(db, user, stored, LIMITS)
    if text is not None:
        intake.add_description(db, user, text, LIMITS)


def test_each_press_in_a_batch_gets_its_own_result_and_only_good_cases_are_queued(any_db, tmp_path):
    db, store = any_db, ImageStore(tmp_path / "images")
    ready(db, store, 1)
    ready(db, store, 2, photo=False)
    ready(db, store, 3, text=None)
    ready(db, store, 4, text="Rash.")
    ready(db, store, 5, text=URGENT)
    results = intake.submit_many(db, [1, 2, 3, 4, 5, 6, 1], STRICT, max_attempts=3)

    assert isinstance(results[0], Submitted) and not results[0].urgent
    assert results[1] == Refusal("no_photo")
    assert results[2] == Refusal("no_description")
    assert results[3] == Refusal("too_short", STRICT.min_description_chars)
    assert isinstance(results[4], Submitted) and results[4].urgent and results[4].flags
    assert isinstance(results[5], PermissionError)  # never consented
    assert results[6] == Refusal("already_submitted", results[0].case_id)  # the same case twice in one batch

    with db.read() as session:
        states = dict(session.execute(select(Case.id, Case.state)).all())
        jobs = session.scalars(select(Job.case_id)).all()
        outbox = session.execute(select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.chat_id)).all()
    queued = {results[0].case_id, results[4].case_id}
    assert {case for case, state in states.items() if state == CaseState.QUEUED} == queued
    assert sorted(jobs) == sorted(queued)  # one drafting job per queued case, none for refused presses
    # What each press is handed to send at once is exactly what was written for its patient.
    for result in (results[0], results[4]):
        for row in result.deliver:
            assert (row.id, row.kind, row.chat_id) in outbox
    assert [row.kind for row in results[0].deliver] == [kinds.CASE_RECEIVED]
    assert [row.kind for row in results[4].deliver] == [kinds.CASE_RECEIVED, kinds.URGENT_ADVICE]
    assert all(row.chat_id == 1_000_005 for row in results[4].deliver)
    # The clinicians' urgent alert is written too (no chat: fanned out by the sender), not handed over.
    assert sum(1 for _, kind, chat in outbox if kind == kinds.URGENT_ALERT and chat is None) == 1


def test_a_second_press_is_told_the_case_is_already_submitted_and_writes_nothing(any_db, tmp_path):
    db, store = any_db, ImageStore(tmp_path / "images")
    ready(db, store, 7)
    first = intake.submit(db, 7, LIMITS, max_attempts=3)
    with db.read() as session:
        before = session.scalar(select(func.count()).select_from(OutboxMessage))
    again = intake.submit(db, 7, LIMITS, max_attempts=3)
    assert again == Refusal("already_submitted", first.case_id)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_nothing_to_submit_before_any_case(db, tmp_path):
    ready(db, ImageStore(tmp_path / "images"), 8, photo=False, text=None)
    assert intake.submit(db, 8, LIMITS, max_attempts=3) == Refusal("nothing")


def test_without_consent_a_single_submit_raises(db):
    with pytest.raises(PermissionError):
        intake.submit(db, 9, LIMITS, max_attempts=3)


@pytest.mark.parametrize("repeat_a_message", [False, True])
def test_every_outbox_row_handed_back_is_the_row_written_for_it(any_db, tmp_path, repeat_a_message):
    # One multi-row INSERT for the batch, its RETURNING rows matched back by (case, kind, chat); a
    # message owed twice falls back to the ordered insert. Either way each id is its own row's.
    db, store = any_db, ImageStore(tmp_path / "images")
    users = list(range(20, 28))
    for user in users:
        ready(db, store, user)
    with db.write_core() as connection:
        found = load_open_cases(connection, users)
        batch = [
            Queueing(
                found[user].case_id,
                False,
                [],
                [
                    Owed(kinds.CASE_RECEIVED, found[user].chat_id, {"n": user, "which": "ack"}),
                    Owed(kinds.URGENT_ALERT, None, {"n": user, "which": "alert"}),
                ]
                + (
                    [Owed(kinds.CASE_RECEIVED, found[user].chat_id, {"n": user, "which": "again"})]
                    if repeat_a_message
                    else []
                ),
            )
            for user in users
        ]
        handed = queue_cases(connection, batch, max_attempts=3, now=utcnow())
    with db.read() as session:
        written = {
            row.id: (row.case_id, row.kind, row.chat_id, row.payload) for row in session.scalars(select(OutboxMessage))
        }
    assert sum(len(rows) for rows in handed.values()) == len(written) == len(users) * (3 if repeat_a_message else 2)
    for case_id, rows in handed.items():
        for row in rows:
            assert written[row.id] == (case_id, row.kind, row.chat_id, row.payload)

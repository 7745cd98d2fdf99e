"""The hottest writes (Submit, the delivery record, the incoming record) run on SQLite's driver, not
as SQLAlchemy Core (``dermvqa.storage.hot_statements``). The same scenario written each way must
leave the same rows, byte for byte where no clock is involved; what it writes must read back through
the ORM; and a driver error must surface as SQLAlchemy's, without the statement's values."""

from __future__ import annotations

import datetime as dt
import functools
import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, InvalidRequestError, StatementError
from support.cases import photo_bytes

from dermvqa.casework import intake
from dermvqa.casework.intake import Submitted
from dermvqa.config import IntakeConfig
from dermvqa.storage import conversation, delivery, hot_statements, submission
from dermvqa.storage.conversation import IncomingEntry, Outgoing, record_incoming_in, record_outgoing_many
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.delivery import RowOutcome, record_outcomes_in
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import Job, MessageLog, OutboxMessage
from dermvqa.storage.outbox import row_values

LIMITS = IntakeConfig()
RASH = "Itchy rash on my forearm for two weeks, slowly spreading."
URGENT = "A rapidly spreading painful rash with fever and blisters in my mouth since yesterday."
NOW = dt.datetime(2026, 12, 2, 6, 30, 15, 123456, tzinfo=dt.UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")  # SQLAlchemy's SQLite DATETIME text
TABLES = ("cases", "jobs", "outbox", "messages")


def _scenario(db, store: ImageStore) -> list:
    """Consent, photos and descriptions (ORM), then the hot writes: a Submit batch, the records of
    what was sent (delivered, to retry, failed for good) and a burst of incoming messages."""
    for user, words in ((1, RASH), (2, URGENT), (3, None), (4, RASH)):
        intake.consent(db, user, user + 1_000_000, "en")
        intake.attach_photo(db, user, intake.store_photo(store, photo_bytes(), LIMITS, max_pixels=10**8), LIMITS)
        if words:
            intake.add_description(db, user, words, LIMITS)
    before = _updated_at(db)
    with db.write() as session:
        results = intake.submit_many_in(session, [1, 2, 3, 4, 9, 1], LIMITS, max_attempts=3)
    queued = {r.case_id for r in results if isinstance(r, Submitted)}
    after = _updated_at(db)
    assert len(queued) == 3 and all(after[case] > before[case] for case in queued)  # Core's onupdate, kept
    delivered = [row for r in results if isinstance(r, Submitted) for row in r.deliver]
    parts = [{"op": "message", "text": "Thank you. Your case number is #1"}]
    outcomes = [
        RowOutcome(delivered[0], parts, 1, [501], [0], done=True),
        RowOutcome(delivered[1], parts, 0, [], [], error="timed out", retry_in=30.0),
        RowOutcome(delivered[2], parts, 0, [], [], error="chat not found", retry_in=None),
    ]
    with db.write() as session:
        gone = record_outcomes_in(session, outcomes, max_attempts=3, now=NOW)
        record_incoming_in(
            session,
            [
                IncomingEntry(1, 1_000_001, "callback", "submit", 77, False),
                IncomingEntry(4, 1_000_004, "text", "It itches at night.", 78, False),
                IncomingEntry(9, 1_000_009, "text", "a stranger", 79, False),  # never consented: not kept
                IncomingEntry(900, 900, "text", "an edited answer", 80, True),  # a clinician: kept, no words
            ],
        )
        record_outgoing_many(session, [Outgoing(1_000_004, None, "patient_text:message", "Hello", 502)])
    return [results, gone]


def _updated_at(db) -> dict[int, str]:
    with db.engine.connect() as connection:
        return dict(connection.execute(text("SELECT id, updated_at FROM cases")).all())


def _rows(db) -> dict[str, list[dict[str, tuple]]]:
    """Every row of the hot tables as SQLite holds it: per column, its value and storage class. Stamps
    of the clock (all but ``NOW``'s) have SQLAlchemy's format, and are then blanked."""
    found: dict[str, list[dict[str, tuple]]] = {}
    with db.engine.connect() as connection:
        for table in TABLES:
            columns = [c[1] for c in connection.execute(text(f"PRAGMA table_info({table})"))]
            typed = ", ".join(f"{c}, typeof({c})" for c in columns)
            found[table] = [
                {
                    column: ("<clock>" if _clock(value) else value, storage)
                    for column, value, storage in zip(columns, row[0::2], row[1::2], strict=True)
                }
                for row in connection.execute(text(f"SELECT {typed} FROM {table} ORDER BY id"))
            ]
    return found


def _clock(value: object) -> bool:
    return isinstance(value, str) and bool(STAMP.match(value)) and value != "2026-12-02 06:30:15.123456"


def _run(tmp_path, monkeypatch, *, driver: bool):
    folder = tmp_path / ("driver" if driver else "core")
    db = open_database(f"sqlite:///{folder / 'dermbot.sqlite3'}", encrypt=False)
    upgrade(db)
    forced = functools.partial(hot_statements.hot_statements, driver=driver)
    for module in (submission, delivery, conversation):
        monkeypatch.setattr(module, "hot_statements", forced)
    try:
        outcome = _scenario(db, ImageStore(folder / "images"))
        return db, outcome, _rows(db)
    finally:
        monkeypatch.undo()


def test_the_driver_writes_the_same_rows_as_core(tmp_path, monkeypatch):
    db_core, (results_core, gone_core), rows_core = _run(tmp_path, monkeypatch, driver=False)
    db_driver, (results_driver, gone_driver), rows_driver = _run(tmp_path, monkeypatch, driver=True)
    try:
        # each press's result, with the rows it is handed to send (exceptions compare by their text)
        assert [repr(r) for r in results_driver] == [repr(r) for r in results_core]
        assert gone_driver == gone_core == set()
        for table in TABLES:
            assert rows_driver[table] == rows_core[table], table
        # the scenario reached every statement: queued cases, jobs, owed rows, records in and out
        assert len(rows_core["jobs"]) == 3 and len(rows_core["messages"]) == 5
        states = [row["state"][0] for row in rows_core["outbox"]]
        assert {"sent", "failed", "pending"} <= set(states)
        assert {row["state"][0] for row in rows_core["cases"]} == {"queued", "collecting"}
    finally:
        db_core.dispose()
        db_driver.dispose()


def test_what_the_driver_writes_reads_back_through_the_orm(db, store):
    """On the encrypted file the fixtures open, as the bot does: aware datetimes, JSON as objects."""
    results, _ = _scenario(db, store)
    with db.read() as session:
        sent = session.scalars(select(OutboxMessage).where(OutboxMessage.state == "sent")).one()
        assert sent.sent_at == NOW and sent.telegram_message_ids == [501] and sent.progress == 1
        assert sent.payload["parts"] == [{"op": "message", "text": "Thank you. Your case number is #1"}]
        retry = session.scalars(select(OutboxMessage).where(OutboxMessage.last_error == "timed out")).one()
        assert retry.state == "pending" and retry.attempts == 1
        assert retry.next_attempt_at == NOW + dt.timedelta(seconds=30)
        jobs = session.scalars(select(Job)).all()
        assert {job.case_id for job in jobs} == {r.case_id for r in results if isinstance(r, Submitted)}
        assert all(job.run_after.tzinfo is not None and job.created_at == job.run_after for job in jobs)
        logged = session.scalars(select(MessageLog).order_by(MessageLog.id)).all()
        assert [(m.direction, m.kind, m.text) for m in logged] == [
            ("out", "case_received:message", "Thank you. Your case number is #1"),
            ("in", "callback", "submit"),
            ("in", "text", "It itches at night."),
            ("in", "text", None),  # the clinician's words are not logged
            ("out", "patient_text:message", "Hello"),
        ]
        assert all(m.created_at.tzinfo is not None for m in logged)


@pytest.mark.parametrize("driver", [True, False])
def test_errors_are_sqlalchemys_and_hide_their_values(db, driver):
    row = row_values("patient_text", 5, None, {"text": "private words"}, NOW, dedupe_key="once")
    with db.write() as session:
        hot_statements.hot_statements(session.connection(), driver=driver).insert_outbox([row])
    with pytest.raises(IntegrityError) as caught, db.write() as session:  # the same dedupe key
        hot_statements.hot_statements(session.connection(), driver=driver).insert_outbox([row])
    assert "UNIQUE" in str(caught.value) and "private words" not in str(caught.value)
    naive = {**row, "dedupe_key": None, "created_at": NOW.replace(tzinfo=None)}
    with pytest.raises(StatementError, match="naive") as caught, db.write() as session:
        hot_statements.hot_statements(session.connection(), driver=driver).insert_outbox([naive])
    assert "private words" not in str(caught.value)
    with pytest.raises(StatementError, match="naive"), db.write() as session:  # a time stamp of the queueing
        hot_statements.hot_statements(session.connection(), driver=driver).queue_plain([1], NOW.replace(tzinfo=None))


def test_many_rows_and_other_time_zones_are_written_as_core_writes_them(tmp_path):
    """More outbox rows than one INSERT takes (the driver splits them), and aware datetimes that
    are not UTC (stored as naive UTC)."""
    plus_two = dt.timezone(dt.timedelta(hours=2))
    rows = [
        row_values("patient_text", 1000 + i, None, {"n": i}, NOW.astimezone(plus_two) + dt.timedelta(seconds=i))
        for i in range(hot_statements._MAX_ROWS_PER_INSERT + 7)
    ]
    found = {}
    for driver in (True, False):
        db = open_database(f"sqlite:///{tmp_path / f'{driver}.sqlite3'}", encrypt=False)
        upgrade(db)
        with db.write() as session:
            ids = hot_statements.hot_statements(session.connection(), driver=driver).insert_outbox(rows)
        assert sorted(chat for _, _, _, chat in ids) == [1000 + i for i in range(len(rows))]
        found[driver] = _rows(db)["outbox"]
        db.dispose()
    assert found[True] == found[False]
    assert found[True][0]["next_attempt_at"] == ("2026-12-02 06:30:15.123456", "text")


def test_the_driver_never_writes_outside_a_transaction(db):
    """A Core connection not yet in a transaction begins one at its first statement; so does the
    driver's form (the file's connections run in autocommit mode, BEGIN issued by SQLAlchemy)."""
    row = row_values("patient_text", 5, None, {"text": "words"}, NOW)
    with db.engine.connect() as connection:
        hot_statements.hot_statements(connection).insert_outbox([row])
        assert connection.in_transaction()
        connection.rollback()
    with db.read() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
    # A transaction SQLite ended on its own (some errors roll it back): refused, not autocommitted.
    with db.engine.connect() as connection:
        statements = hot_statements.hot_statements(connection)
        connection.connection.driver_connection.execute("ROLLBACK")
        with pytest.raises(InvalidRequestError, match="has ended"):
            statements.insert_outbox([row])
    with db.read() as session:
        assert session.scalars(select(OutboxMessage)).all() == []

"""The schema comes from Alembic, matches the models, and SQLite is set up for several processes."""

from __future__ import annotations

import threading
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from dermvqa.storage.database import alembic_config, current_revision, open_database, upgrade
from dermvqa.storage.models import Base, Case, Patient


def test_upgrade_to_head_is_idempotent_and_matches_the_models(db):
    head = current_revision(db)
    assert head is not None
    upgrade(db)  # the service runs this at every start
    assert current_revision(db) == head
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    for name in ("patients", "cases", "case_images", "messages", "drafts", "reviews", "outbox", "jobs", "models"):
        assert name in tables


def test_downgrade_to_base_and_back(db):
    cfg = alembic_config(db.url)
    command.downgrade(cfg, "base")
    assert "cases" not in inspect(db.engine).get_table_names()
    upgrade(db)
    assert "cases" in inspect(db.engine).get_table_names()


def test_sqlite_pragmas(db):
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_foreign_keys_cascade_on_patient_delete(db):
    with db.write() as session:
        patient = Patient(telegram_user_id=1, chat_id=1)
        session.add(patient)
        session.flush()
        session.add(Case(patient_id=patient.id))
    with db.write() as session:
        session.execute(text("DELETE FROM patients"))
    with db.read() as session:
        assert session.scalars(select(Case)).all() == []


def test_write_transactions_take_the_lock_up_front(tmp_path, data_key):
    """Two read-then-write transactions cannot interleave: the second waits for the first."""
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    first = open_database(url, key=data_key, busy_timeout_ms=5000)
    second = open_database(url, key=data_key, busy_timeout_ms=5000)
    upgrade(first)
    with first.write() as session:
        session.add(Patient(telegram_user_id=1, chat_id=1))
    order: list[str] = []
    inside = threading.Event()

    def slow_writer():
        with first.write() as session:
            session.scalar(select(Patient.chat_id))  # BEGIN IMMEDIATE runs with the first statement
            order.append("first-read")
            inside.set()
            threading.Event().wait(0.3)
            session.execute(text("UPDATE patients SET chat_id = chat_id + 1"))
            order.append("first-commit")

    t = threading.Thread(target=slow_writer)
    t.start()
    inside.wait()
    with second.write() as session:
        value = session.scalar(select(Patient.chat_id))
        order.append("second-read")
        session.execute(text("UPDATE patients SET chat_id = :v"), {"v": value + 1})
    t.join()
    assert order == ["first-read", "first-commit", "second-read"]
    with second.read() as session:
        assert session.scalar(select(Patient.chat_id)) == 3  # no lost update
    first.dispose()
    second.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_matches_the_models(pg_db):
    with pg_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_write_waits_for_another_processs_lock_in_short_steps(tmp_path, data_key, monkeypatch):
    """SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries; a write waits
    in steps of 0.5 ms doubling to 4 ms, and keeps the busy timeout for its statements."""
    url = f"sqlite:///{tmp_path / 'steps.sqlite3'}"
    holder = open_database(url, key=data_key)
    waiter = open_database(url, key=data_key, busy_timeout_ms=5000)
    upgrade(holder)
    held, release, waits = threading.Event(), threading.Event(), []
    real_sleep = time.sleep

    def hold():
        with holder.write_core():
            held.set()
            release.wait(10)

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 6:  # the other process lets go after six tries
            release.set()
        real_sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    monkeypatch.setattr(time, "sleep", sleep)
    try:
        with waiter.write() as session:
            session.add(Patient(telegram_user_id=2, chat_id=2))
            assert session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        monkeypatch.undo()
        release.set()
        thread.join()
        holder.dispose()
        waiter.dispose()
    assert waits[:6] == [0.0005, 0.001, 0.002, 0.004, 0.004, 0.004]
    assert max(waits) == 0.004

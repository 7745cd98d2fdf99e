"""The bot's database process (bot/dbprocess.py): the bot's calls run in a child process on the bot's
own (encrypted) database, one at a time and in order; results and exceptions come back; a child that
dies fails only the calls waiting on it, and the next call starts a new one; signals sent to the
whole process group (Ctrl-C, a service manager's stop) do not end it; a database it cannot open
fails the start."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select
from support import dbcalls

from bot.dbprocess import DatabaseProcessError, DbProcess
from bot.rendering import text_parts
from bot.replies import queue_parts
from dermvqa.casework import intake
from dermvqa.config import TOKEN_ENV, WEBHOOK_SECRET_ENV
from dermvqa.errors import AlignmentError, ConfigError
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import new_key_text, parse_key
from dermvqa.storage.models import OutboxMessage, Patient
from dermvqa.storage.shared_writes import Failed, Write, write_together

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner(db, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the child imports support.dbcalls by name, as the bot's modules
    process = DbProcess(db, ImageStore(tmp_path / "images"))
    yield process
    process.close()


async def test_calls_run_in_the_child_on_the_bots_encrypted_database(runner, db):
    await runner.start()
    child = await runner(dbcalls.child_pid)
    assert child == runner.pid and child != os.getpid()
    await runner(intake.consent, db, 41, 4100, "en")  # ``db`` crosses by name: the child's own engine
    with db.read() as session:  # ... on the same file, which this process reads with the same key
        patient = session.scalars(select(Patient).where(Patient.telegram_user_id == 41)).one()
    assert patient.chat_id == 4100


async def test_calls_run_one_at_a_time_in_the_order_they_were_made(runner, db):
    await runner.start()
    await asyncio.gather(*(runner(queue_parts, db, 700 + n, text_parts(f"message {n}")) for n in range(30)))
    with db.read() as session:
        chats = session.scalars(select(OutboxMessage.chat_id).order_by(OutboxMessage.id)).all()
    assert chats == [700 + n for n in range(30)]


async def test_an_exception_comes_back_with_its_class_and_fields(runner):
    await runner.start()
    with pytest.raises(AlignmentError) as caught:
        await runner(dbcalls.raise_alignment)
    assert str(caught.value) == "the rows do not line up"
    assert (caught.value.missing, caught.value.extra) == ((3,), (4, 5))


async def test_a_result_that_cannot_come_back_is_an_error_and_the_next_call_works(runner):
    await runner.start()
    with pytest.raises(DatabaseProcessError, match="function could not be sent back"):
        await runner(dbcalls.unsendable_result)
    assert await runner(dbcalls.child_pid) == runner.pid


async def test_a_child_that_dies_fails_the_waiting_call_and_the_next_call_starts_a_new_one(runner):
    await runner.start()
    first = runner.pid
    with pytest.raises(DatabaseProcessError, match="ended during the call"):
        await runner(dbcalls.exit_now, 3)
    second = await runner(dbcalls.child_pid)
    assert second == runner.pid and second != first


async def test_signals_to_the_process_group_do_not_end_it_closing_does(runner):
    await runner.start()
    child = runner._child
    for signum in (signal.SIGINT, signal.SIGTERM):
        os.kill(child.pid, signum)
    await asyncio.sleep(0.2)
    assert child.poll() is None
    assert await runner(dbcalls.child_pid) == child.pid  # still answering
    runner.close()
    assert child.returncode == 0


async def test_a_cancelled_caller_leaves_the_stream_whole_and_its_call_still_runs(runner, db):
    """Callers cancelled while their (large) calls are on the way: the call runs anyway, as on a
    thread, and every later call is answered."""
    await runner.start()
    big = "x" * 200_000  # a few of these fill the socket's buffer: sends are then partial
    tasks = [asyncio.ensure_future(runner(queue_parts, db, 800 + n, text_parts(big[:3000]) * 60)) for n in range(12)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert await runner(dbcalls.child_pid) == runner.pid
    with db.read() as session:
        chats = session.scalars(select(OutboxMessage.chat_id).order_by(OutboxMessage.id)).all()
    assert chats == [800 + n for n in range(12)]


async def test_close_runs_the_calls_already_made_and_refuses_later_ones(runner, db):
    await runner.start()
    tasks = [asyncio.ensure_future(runner(queue_parts, db, 900 + n, text_parts(f"m{n}"))) for n in range(10)]
    await asyncio.sleep(0)  # every call is on its way
    runner.close()
    await asyncio.gather(*tasks)  # each one answered, none failed
    with db.read() as session:
        assert len(session.scalars(select(OutboxMessage.id)).all()) == 10
    with pytest.raises(DatabaseProcessError, match="closed"):
        await runner(dbcalls.child_pid)


async def test_stop_iteration_comes_back_as_an_error_and_the_next_call_works(runner):
    await runner.start()
    with pytest.raises(DatabaseProcessError, match="StopIteration"):
        await runner(dbcalls.raise_stop_iteration)
    assert await runner(dbcalls.child_pid) == runner.pid


async def test_the_child_has_the_bots_busy_timeout_and_none_of_its_secrets(db, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setenv(TOKEN_ENV, "123:secret-token")
    patient = Database(engine=db.engine, url=db.url, key=db.key, busy_timeout_ms=1234)
    process = DbProcess(patient, ImageStore(tmp_path / "images"))
    try:
        await process.start()
        assert await process(dbcalls.busy_timeout_ms, patient) == 1234
        names = await process(dbcalls.environment_names)
    finally:
        process.close()
    assert not {TOKEN_ENV, WEBHOOK_SECRET_ENV} & set(names)


async def test_a_database_it_cannot_open_fails_the_start(db, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    wrong_key = parse_key(new_key_text(), "test")
    other = Database(engine=db.engine, url=db.url, key=wrong_key)  # what the child will open
    process = DbProcess(other, ImageStore(tmp_path / "images"))
    with pytest.raises(ConfigError):
        await process.start()
    assert process.pid is None


async def test_a_shared_write_whose_error_cannot_cross_fails_alone(runner, db):
    # The other writes of the shared transaction committed: they keep their results; only the
    # failed one's error is replaced by one that names its type.
    await runner.start()
    kept, failed = await runner(
        write_together, db, [Write(dbcalls.write_kept, (7,)), Write(dbcalls.write_unsendable_failure)]
    )
    assert kept == 7
    assert isinstance(failed, Failed) and isinstance(failed.error, DatabaseProcessError)
    assert "RuntimeError could not be sent back" in str(failed.error)
    assert await runner(dbcalls.child_pid) == runner.pid  # and the process goes on

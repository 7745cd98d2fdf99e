"""The retry decision for a locked database, and how the supervisor names a worker's exit (pure)."""

from __future__ import annotations

import pytest

from bot.service import MODEL_LOAD_FAILED, exit_reason
from dermvqa.queue.retry import db_retry_delay, is_transient_db_message
from dermvqa.worker import EXIT_BATCH_TIMEOUT


@pytest.mark.parametrize(
    "message",
    [
        "database is locked",
        "(sqlite3.OperationalError) database is locked",
        "database table is locked: jobs",
        "deadlock detected\nDETAIL: Process 12 waits for ShareLock",
        "could not serialize access due to concurrent update",
    ],
)
def test_lock_messages_are_transient(message):
    assert is_transient_db_message(message)
    assert db_retry_delay(message, 1) == 0.5


@pytest.mark.parametrize(
    "message",
    ["no such table: jobs", "disk I/O error", "database disk image is malformed", "attempt to write a readonly db"],
)
def test_other_database_errors_are_not_retried(message):
    assert not is_transient_db_message(message)
    assert db_retry_delay(message, 1) is None


def test_the_wait_doubles_up_to_a_cap_and_never_gives_up():
    delays = [db_retry_delay("database is locked", tries, base_seconds=0.5, max_seconds=4) for tries in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert db_retry_delay("database is locked", 10_000, base_seconds=0.5, max_seconds=30) == 30


def test_exit_reasons_name_the_fault():
    assert "batch_timeout_s" in exit_reason(EXIT_BATCH_TIMEOUT)
    assert "cannot be loaded" in exit_reason(MODEL_LOAD_FAILED)
    assert exit_reason(-9) == "killed by signal 9"
    assert exit_reason(1) == "exit code 1"
    assert EXIT_BATCH_TIMEOUT != MODEL_LOAD_FAILED

"""Functions for tests of the bot's database process (tests/db/test_db_process.py): module-level, so
they cross to the child by name, as the bot's core functions do."""

from __future__ import annotations

import os
import threading

from dermvqa.errors import AlignmentError


def child_pid() -> int:
    return os.getpid()


def raise_alignment() -> None:
    raise AlignmentError("the rows do not line up", missing=(3,), extra=(4, 5))


def unsendable_result() -> object:
    return lambda: None  # a function made here cannot be pickled back


def exit_now(code: int) -> None:
    os._exit(code)  # the process dies mid-call, as on a crash


def raise_stop_iteration() -> None:
    raise StopIteration  # an exception a future cannot carry


def busy_timeout_ms(db) -> int:
    """The busy timeout the child's own connections use (SQLite's PRAGMA)."""
    with db.engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()


def environment_names() -> list[str]:
    return sorted(os.environ)


def write_unsendable_failure(session) -> None:
    """A shared write whose error cannot be pickled back (it holds a lock, as a driver's error may
    hold its connection)."""
    error = RuntimeError("no such thing")
    error.handle = threading.Lock()
    raise error


def write_kept(session, value: int) -> int:
    return value

"""Several writes in one transaction: the bot's hot writes share their commits.

A Submit batch, the delivery records of the acknowledgements just sent and the last few incoming
messages are three small transactions when written apart; each pays the same fixed price (the write
lock, a begin and a commit, the tail pages of the same tables and indexes encrypted and appended to
the write-ahead log once more). Written together they pay it once (``bench/bot_load.py``).

Each write is ``fn(session, *args, **kwargs)``, a function that works inside its caller's
transaction (``submit_many_in``, ``record_outcomes_in``, ``record_incoming_in``). One write's error is
its own: when the shared transaction fails, nothing of it was committed, and each write is run again
alone, so the others still commit and only the failing one reports its error (unless the database
itself failed: then every write of the batch gets that error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from dermvqa.storage.database import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Write:
    """``fn(session, *args, **kwargs)``, to run inside a shared transaction."""

    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self, session: Session) -> Any:
        return self.fn(session, *self.args, **self.kwargs)


@dataclass(frozen=True)
class Failed:
    """A write that raised (alone, in a transaction of its own): its exception, for its caller."""

    error: BaseException


def write_together(db: Database, writes: Sequence[Write]) -> list[Any]:
    """Run ``writes`` in one transaction; one result per write, in order (a :class:`Failed` for a
    write that raised). When the shared transaction fails, each write is retried alone, except when
    the database itself failed (busy past its timeout, unreachable): that error is raised, every
    write's, as it would be for each alone (written alone each would wait out the lock again, or
    apply twice a commit that did succeed before the connection broke)."""
    if not writes:
        return []
    try:
        with db.write() as session:
            return [write.run(session) for write in writes]
    except Exception as exc:
        if _database_failed(exc):
            raise
        if len(writes) == 1:
            return [Failed(exc)]
        # Names only (a write's arguments may be a patient's words).
        logger.warning(
            "a shared transaction of %d writes failed (%s); each is written alone", len(writes), type(exc).__name__
        )
    return [_write_alone(db, write) for write in writes]


def _database_failed(exc: Exception) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _write_alone(db: Database, write: Write) -> Any:
    try:
        with db.write() as session:
            return write.run(session)
    except Exception as exc:
        return Failed(exc)

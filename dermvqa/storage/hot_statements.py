"""The statements of the bot's hottest writes, in two forms: SQLAlchemy Core, and SQLite's own driver.

A crowd pressing Submit is bounded by the bot's CPU (bench/bot_load.py), and in its database
process a Submit batch, the delivery records of the acknowledgements just sent and the incoming
record spend most of their time in SQLAlchemy's Python (compiling expanding IN lists, bind and
result processors, RETURNING batches, result objects), not in SQLite. On SQLite these few
statements therefore run on the driver's cursor (sqlite3, or sqlcipher3: the same DB-API) inside
the transaction SQLAlchemy began; on any other database (PostgreSQL) they run as Core.

Both forms take and return the same plain values, and write the same bytes: datetimes as
SQLAlchemy's SQLite ``DATETIME`` stores them (naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``), JSON as
``json.dumps`` writes it, and a driver error is raised as SQLAlchemy's (``OperationalError``,
``IntegrityError``), its parameters hidden (``tests/db/test_hot_statements.py`` writes with each and
compares the files' rows). The callers keep the logic: ``dermvqa.storage.submission``,
``dermvqa.storage.delivery``, ``dermvqa.storage.conversation``. The rarer statements of those paths
(an urgent case's UPDATE, lookups for records without a known recipient) stay Core on every
database. The driver's statements do not pass through the engine: its ``echo`` and events do not
see them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, InvalidRequestError, StatementError

from dermvqa.states import CaseState
from dermvqa.storage.models import Case, CaseImage, Job, MessageLog, OutboxMessage, Patient, utcnow

CASES, IMAGES, JOBS, OUTBOX, PATIENTS, MESSAGES = (
    Case.__table__,
    CaseImage.__table__,
    Job.__table__,
    OutboxMessage.__table__,
    Patient.__table__,
    MessageLog.__table__,
)
COLLECTING, QUEUED = CaseState.COLLECTING.value, CaseState.QUEUED.value
R = TypeVar("R")


class OutcomeRow(NamedTuple):
    """An outbox row as its delivery record needs it, with its chat's patient and whether its case exists."""

    id: int
    payload: dict[str, Any] | None
    attempts: int
    state: str
    sent_at: dt.datetime | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    patient_id: int | None
    consent_at: dt.datetime | None
    case_exists: int | None


# -- Core: built once (SQLAlchemy memoises a statement object's cache key) ----------------------------

_photos = select(func.count()).where(IMAGES.c.case_id == CASES.c.id).scalar_subquery()
# Per Telegram user: the patient and their collecting cases (newest first) with each one's photo count.
OPEN_CASES = (
    select(
        PATIENTS.c.telegram_user_id,
        PATIENTS.c.id,
        PATIENTS.c.chat_id,
        PATIENTS.c.consent_at,
        CASES.c.id,
        CASES.c.description,
        _photos,
    )
    .select_from(PATIENTS.outerjoin(CASES, (CASES.c.patient_id == PATIENTS.c.id) & (CASES.c.state == COLLECTING)))
    .where(PATIENTS.c.telegram_user_id.in_(bindparam("users", expanding=True)))
    .order_by(CASES.c.id.desc())
)
QUEUE_PLAIN = (
    update(CASES)
    .where(CASES.c.id.in_(bindparam("ids", expanding=True)), CASES.c.state == COLLECTING)
    .values(state=QUEUED, urgent=False, urgent_reasons=None, submitted_at=bindparam("now"))
    .returning(CASES.c.id)
)
INSERT_JOBS = insert(JOBS)
INSERT_OUTBOX = insert(OUTBOX).returning(OUTBOX.c.id, OUTBOX.c.case_id, OUTBOX.c.kind, OUTBOX.c.chat_id)
# Each row with what the conversation record needs of its chat's patient and of its case.
OUTCOME_ROWS = (
    select(
        OUTBOX.c.id,
        OUTBOX.c.payload,
        OUTBOX.c.attempts,
        OUTBOX.c.state,
        OUTBOX.c.sent_at,
        OUTBOX.c.last_error,
        OUTBOX.c.next_attempt_at,
        PATIENTS.c.id.label("patient_id"),
        PATIENTS.c.consent_at,
        CASES.c.id.label("case_exists"),
    )
    .outerjoin(PATIENTS, PATIENTS.c.chat_id == OUTBOX.c.chat_id)
    .outerjoin(CASES, CASES.c.id == OUTBOX.c.case_id)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
)
RECORD_OUTCOME = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"))
    .values(
        payload=bindparam("payload"),
        progress=bindparam("progress"),
        telegram_message_ids=bindparam("message_ids"),
        state=bindparam("state"),
        sent_at=bindparam("sent_at"),
        last_error=bindparam("last_error"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"),
    )
)
INSERT_MESSAGES = insert(MESSAGES)
# Each user's patient with their newest case.
PATIENTS_BY_USER = select(
    PATIENTS.c.telegram_user_id,
    PATIENTS.c.id,
    PATIENTS.c.consent_at,
    select(func.max(CASES.c.id)).where(CASES.c.patient_id == PATIENTS.c.id).scalar_subquery(),
).where(PATIENTS.c.telegram_user_id.in_(bindparam("users", expanding=True)))


class CoreStatements:
    """The statements as SQLAlchemy Core, on any database."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def open_cases(self, users: Sequence[int]) -> list[tuple]:
        return [tuple(row) for row in self.connection.execute(OPEN_CASES, {"users": list(users)})]

    def queue_plain(self, case_ids: Sequence[int], now: dt.datetime) -> list[int]:
        return list(self.connection.execute(QUEUE_PLAIN, {"ids": list(case_ids), "now": now}).scalars())

    def insert_jobs(self, rows: list[dict[str, Any]]) -> None:
        self.connection.execute(INSERT_JOBS, rows)

    def insert_outbox(self, rows: list[dict[str, Any]]) -> list[tuple[int, int | None, str, int | None]]:
        """(id, case_id, kind, chat_id) of each row inserted, in no promised order."""
        return [tuple(row) for row in self.connection.execute(INSERT_OUTBOX, rows)]

    def outcome_rows(self, row_ids: Sequence[int]) -> list[OutcomeRow]:
        return [OutcomeRow(*row) for row in self.connection.execute(OUTCOME_ROWS, {"ids": list(row_ids)})]

    def record_outcomes(self, updates: list[dict[str, Any]]) -> None:
        self.connection.execute(RECORD_OUTCOME, updates)

    def insert_messages(self, rows: list[dict[str, Any]]) -> None:
        self.connection.execute(INSERT_MESSAGES, rows)

    def patients_by_user(self, users: Sequence[int]) -> list[tuple]:
        return [tuple(row) for row in self.connection.execute(PATIENTS_BY_USER, {"users": list(users)})]


# -- SQLite's driver: the same statements as SQL text ------------------------------------------------

_OPEN_CASES_SQL = (
    "SELECT patients.telegram_user_id, patients.id, patients.chat_id, patients.consent_at, cases.id, "
    "cases.description, (SELECT count(*) FROM case_images WHERE case_images.case_id = cases.id) "
    "FROM patients LEFT OUTER JOIN cases ON cases.patient_id = patients.id AND cases.state = ? "
    "WHERE patients.telegram_user_id IN ({}) ORDER BY cases.id DESC"
)
_QUEUE_PLAIN_SQL = (
    "UPDATE cases SET state = ?, urgent = 0, urgent_reasons = ?, submitted_at = ?, updated_at = ? "
    "WHERE cases.id IN ({}) AND cases.state = ? RETURNING id"
)
_JOB_COLUMNS = ("kind", "case_id", "state", "priority", "attempts", "max_attempts", "run_after", "created_at")
_OUTBOX_COLUMNS = (
    "kind", "chat_id", "case_id", "payload", "state", "attempts", "progress", "next_attempt_at", "created_at",
    "dedupe_key",
)  # fmt: skip
_OUTCOME_ROWS_SQL = (
    "SELECT outbox.id, outbox.payload, outbox.attempts, outbox.state, outbox.sent_at, outbox.last_error, "
    "outbox.next_attempt_at, patients.id, patients.consent_at, cases.id FROM outbox "
    "LEFT OUTER JOIN patients ON patients.chat_id = outbox.chat_id "
    "LEFT OUTER JOIN cases ON cases.id = outbox.case_id WHERE outbox.id IN ({})"
)
_RECORD_OUTCOME_SQL = (
    "UPDATE outbox SET payload = ?, progress = ?, telegram_message_ids = ?, state = ?, sent_at = ?, "
    "last_error = ?, attempts = ?, next_attempt_at = ? WHERE outbox.id = ?"
)
_MESSAGE_COLUMNS = (
    "patient_id", "case_id", "chat_id", "user_id", "direction", "kind", "text", "telegram_message_id", "created_at",
)  # fmt: skip
_PATIENTS_BY_USER_SQL = (
    "SELECT patients.telegram_user_id, patients.id, patients.consent_at, "
    "(SELECT max(cases.id) FROM cases WHERE cases.patient_id = patients.id) "
    "FROM patients WHERE patients.telegram_user_id IN ({})"
)
_MAX_ROWS_PER_INSERT = 500  # of outbox rows with RETURNING (10 variables each; SQLite allows 32,766)


def _insert_sql(table: str, columns: Sequence[str], rows: int = 1, returning: str = "") -> str:
    values = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{returning}"


_INSERT_JOB_SQL = _insert_sql("jobs", _JOB_COLUMNS)
_INSERT_MESSAGE_SQL = _insert_sql("messages", _MESSAGE_COLUMNS)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def stored_datetime(value: dt.datetime | None) -> str | None:
    """A UTC column's value as SQLAlchemy stores it in SQLite (``models.UTCDateTime`` over ``DATETIME``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def loaded_datetime(value: str | None) -> dt.datetime | None:
    """A UTC column's stored text as SQLAlchemy reads it: an aware UTC datetime."""
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _json(value: Any) -> str:
    return json.dumps(value)  # SQLAlchemy's JSON type: json.dumps, Python None as JSON null


def _job_params(r: dict[str, Any]) -> tuple:
    when = stored_datetime(r["run_after"]), stored_datetime(r["created_at"])
    return (r["kind"], r["case_id"], r["state"], r["priority"], r["attempts"], r["max_attempts"], *when)


def _outbox_params(r: dict[str, Any]) -> tuple:
    when = stored_datetime(r["next_attempt_at"]), stored_datetime(r["created_at"])
    head = r["kind"], r["chat_id"], r["case_id"], _json(r["payload"]), r["state"], r["attempts"], r["progress"]
    return (*head, *when, r["dedupe_key"])


def _outcome_params(u: dict[str, Any]) -> tuple:
    head = _json(u["payload"]), u["progress"], _json(u["message_ids"]), u["state"], stored_datetime(u["sent_at"])
    return (*head, u["last_error"], u["attempts"], stored_datetime(u["next_attempt_at"]), u["row_id"])


def _message_params(r: dict[str, Any]) -> tuple:
    head = r["patient_id"], r["case_id"], r["chat_id"], r.get("user_id"), r["direction"], r["kind"], r["text"]
    return (*head, r["telegram_message_id"], stored_datetime(r["created_at"]))


def _outcome_row(
    row_id: int, payload: str | None, attempts: int, state: str, sent_at: str | None, last_error: str | None,
    next_attempt_at: str | None, patient_id: int | None, consent_at: str | None, case_exists: int | None,
) -> OutcomeRow:  # fmt: skip
    loaded = None if payload is None else json.loads(payload)
    return OutcomeRow(
        row_id, loaded, attempts, state, loaded_datetime(sent_at), last_error, loaded_datetime(next_attempt_at),
        patient_id, loaded_datetime(consent_at), case_exists,
    )  # fmt: skip


class SqliteStatements:
    """The statements on SQLite's DB-API cursor, in the transaction SQLAlchemy began on ``connection``.

    Errors are SQLAlchemy's, as Core raises them: the driver's as ``OperationalError``,
    ``IntegrityError``..., a value that cannot be bound (a naive datetime) as ``StatementError``;
    never with the statement's values."""

    def __init__(self, connection: Connection) -> None:
        if not connection.in_transaction():  # as Core's first statement would (autobegin): never autocommit
            connection.begin()
        self.dialect = connection.dialect
        self.driver = connection.connection.driver_connection
        self.cursor = self.driver.cursor()

    def _run(self, sql: str, params: Callable[[], Sequence[Any]]) -> list[tuple]:
        self._check_transaction()
        try:
            return self.cursor.execute(sql, params()).fetchall()
        except Exception as exc:
            raise self._wrapped(sql, exc) from None

    def _run_many(self, sql: str, rows: Sequence[R], to_params: Callable[[R], tuple]) -> None:
        self._check_transaction()
        try:
            self.cursor.executemany(sql, [to_params(row) for row in rows])
        except Exception as exc:
            raise self._wrapped(sql, exc) from None

    def _check_transaction(self) -> None:
        # SQLite may end a transaction on its own (some errors roll it back); the file's connections
        # run in autocommit mode, so a statement then would be committed alone.
        if not self.driver.in_transaction:
            raise InvalidRequestError("the transaction these statements belong to has ended")

    def _wrapped(self, sql: str, exc: Exception) -> StatementError:
        return DBAPIError.instance(
            sql, None, exc, self.dialect.loaded_dbapi.Error, hide_parameters=True, dialect=self.dialect
        )

    def open_cases(self, users: Sequence[int]) -> list[tuple]:
        rows = self._run(_OPEN_CASES_SQL.format(_marks(len(users))), lambda: [COLLECTING, *users])
        return [(u, p, chat, loaded_datetime(consent), c, text, n) for u, p, chat, consent, c, text, n in rows]

    def queue_plain(self, case_ids: Sequence[int], now: dt.datetime) -> list[int]:
        sql = _QUEUE_PLAIN_SQL.format(_marks(len(case_ids)))

        # urgent_reasons: JSON null, as SQLAlchemy binds None to a JSON column; updated_at: its onupdate
        def params() -> list[Any]:
            return [QUEUED, _json(None), stored_datetime(now), stored_datetime(utcnow()), *case_ids, COLLECTING]

        return [case_id for (case_id,) in self._run(sql, params)]

    def insert_jobs(self, rows: list[dict[str, Any]]) -> None:
        self._run_many(_INSERT_JOB_SQL, rows, _job_params)

    def insert_outbox(self, rows: list[dict[str, Any]]) -> list[tuple[int, int | None, str, int | None]]:
        inserted: list[tuple[int, int | None, str, int | None]] = []
        for start in range(0, len(rows), _MAX_ROWS_PER_INSERT):
            chunk = rows[start : start + _MAX_ROWS_PER_INSERT]
            sql = _insert_sql("outbox", _OUTBOX_COLUMNS, len(chunk), " RETURNING id, case_id, kind, chat_id")
            inserted += self._run(sql, lambda chunk=chunk: [value for r in chunk for value in _outbox_params(r)])
        return inserted

    def outcome_rows(self, row_ids: Sequence[int]) -> list[OutcomeRow]:
        rows = self._run(_OUTCOME_ROWS_SQL.format(_marks(len(row_ids))), lambda: list(row_ids))
        return [_outcome_row(*row) for row in rows]

    def record_outcomes(self, updates: list[dict[str, Any]]) -> None:
        self._run_many(_RECORD_OUTCOME_SQL, updates, _outcome_params)

    def insert_messages(self, rows: list[dict[str, Any]]) -> None:
        self._run_many(_INSERT_MESSAGE_SQL, rows, _message_params)

    def patients_by_user(self, users: Sequence[int]) -> list[tuple]:
        rows = self._run(_PATIENTS_BY_USER_SQL.format(_marks(len(users))), lambda: list(users))
        return [(u, p, loaded_datetime(consent), newest) for u, p, consent, newest in rows]


def hot_statements(connection: Connection, *, driver: bool | None = None) -> CoreStatements | SqliteStatements:
    """The statements for ``connection``'s database: SQLite's driver on SQLite, else Core (``driver``:
    force one form, for the tests that compare them)."""
    if driver is None:
        driver = connection.dialect.name == "sqlite"
    return SqliteStatements(connection) if driver else CoreStatements(connection)

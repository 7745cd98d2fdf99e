"""Database engine, sessions and migrations (an adapter).

SQLite is the default and is set up for a service with several processes: WAL journal (readers
never block the writer), foreign keys on, a busy timeout, and transactions that read-then-write
take the write lock up front (``BEGIN IMMEDIATE``) so two processes cannot both read a row as free
and then both write it. Any other SQLAlchemy URL works (PostgreSQL for several hosts).

A SQLite file is encrypted as a whole with SQLCipher (``sqlcipher3``): every page of the file and
its WAL, keyed with the database subkey of the data key (:mod:`dermvqa.storage.keys`) as a raw key,
so no PBKDF2 runs per connection; freed pages are zeroed (``secure_delete``). Only tests and
benchmarks open a plain file, by passing ``encrypt=False``. PostgreSQL is not encrypted here:
encryption at rest there is the server's (an encrypted disk, or TDE).

The schema is managed by Alembic only: :func:`upgrade` brings a database to head (the service
calls it at start; ``dermbot migrate`` runs it by hand).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from dermvqa.errors import ConfigError, UnreachableError
from dermvqa.storage.keys import DataKey, load_data_key
from dermvqa.storage.private_files import create_private_file, make_private, make_private_dir

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_IMMEDIATE = "dermbot_begin_immediate"


def _key_sqlcipher(engine: Engine, url: str, key: DataKey) -> None:
    """Key every new connection before anything reads the file, and check the key at once."""

    @event.listens_for(engine, "do_connect")
    def _keyed_connect(dialect, _record, cargs, cparams):
        connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
        try:
            connection.execute("PRAGMA cipher_log_level = NONE")  # its own stderr lines would name pages
            connection.execute(f"PRAGMA key = {key.sqlcipher_key()}")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except dialect.loaded_dbapi.DatabaseError as exc:
            connection.close()
            if "not a database" not in str(exc):
                raise
            if _is_plaintext_sqlite(cargs[0] if cargs else cparams.get("database", "")):
                raise ConfigError(
                    f"the database at {mask_password(url)} is not encrypted (it is from before encryption at "
                    "rest): stop the service and run `dermbot keys encrypt-database` once"
                ) from None
            raise ConfigError(
                f"the data key (key id {key.key_id}) does not open the database at {mask_password(url)}: "
                "a different key, or a file that is not an encrypted DermBot database"
            ) from None
        return connection


def _is_plaintext_sqlite(database: str) -> bool:
    try:
        with open(database, "rb") as file:
            return file.read(16) == b"SQLite format 3\x00"
    except (OSError, TypeError):
        return False


def prepare_private_sqlite_file(path: Path) -> None:
    """Make the SQLite file mode 600 before SQLite opens it (created empty if missing: an empty file is
    an empty database), its folder 700 if created here. SQLite gives the ``-wal`` and ``-shm`` files
    the main file's mode; :func:`_configure_sqlite` sets them to 600 as well, whatever the umask."""
    if not path.parent.exists():
        make_private_dir(path.parent)
    try:
        os.close(create_private_file(path))
    except FileExistsError:
        try:
            make_private(path)
        except OSError as exc:  # another user's file: it opens (or not) as before
            logger.warning("the database file's mode cannot be set to 600 (%s)", type(exc).__name__)


def _private_sqlite_files(dbapi_connection) -> None:
    """The open database's file and its ``-wal``/``-shm``: mode 600 (they exist once WAL is on)."""
    try:
        row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    except Exception:  # never fail a connection over this
        return
    name = row[2] if row else ""
    if name:
        for path in (name, f"{name}-wal", f"{name}-shm"):
            with contextlib.suppress(OSError):  # another user's file (warned about when it was opened)
                make_private(Path(path))


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via tests
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN is deferred only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA secure_delete = ON")  # deleted rows' bytes are overwritten, not left in free pages
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        _private_sqlite_files(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        if connection.get_execution_options().get(_IMMEDIATE, False):
            _begin_immediate(connection, busy_timeout_ms)
        else:
            connection.exec_driver_sql("BEGIN")


# Between tries for another process's write lock: SQLite's own busy handler sleeps 1, 2, 5, 10, 15,
# 20, 25 ms... so a lock the worker held for 3 ms cost a Submit batch up to 8 ms, and an unlucky
# series of short locks 33 ms (seen in bench/bot_load.py), with every Submit queued behind it.
_FIRST_WAIT_S, _LONGEST_WAIT_S = 0.0005, 0.004


def _begin_immediate(connection: Connection, busy_timeout_ms: int) -> None:
    """``BEGIN IMMEDIATE``, waiting for another process's write lock in steps of 0.5-4 ms for up
    to the busy timeout (then SQLAlchemy's ``OperationalError``, "database is locked", as before)."""
    driver = connection.connection.driver_connection
    error = connection.dialect.loaded_dbapi.OperationalError
    deadline = time.monotonic() + busy_timeout_ms / 1000
    wait = _FIRST_WAIT_S
    driver.execute("PRAGMA busy_timeout = 0")  # (ours, for this BEGIN only)
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except error as exc:
                if "locked" not in str(exc) or time.monotonic() + wait > deadline:
                    raise DBAPIError.instance(
                        "BEGIN IMMEDIATE", None, exc, error, hide_parameters=True, dialect=connection.dialect
                    ) from None
            time.sleep(wait)
            wait = min(2 * wait, _LONGEST_WAIT_S)
    finally:
        driver.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")


@dataclass
class Database:
    """One engine and two session factories: ``read`` and ``write`` (the write lock up front)."""

    engine: Engine
    url: str
    #: the data key a SQLite file was opened with, or the one given for another database (None: none
    #: given, or a plain SQLite file)
    key: DataKey | None = field(default=None, repr=False)
    #: how long a write waits for another process's lock on a SQLite file (another process opening
    #: the same database, the bot's database process, uses the same)
    busy_timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        self._write_engine = write_engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that will write: committed on success, rolled back on any error."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def write_core(self) -> Iterator[Connection]:
        """:meth:`write` without the ORM: a Core connection in one transaction (the write lock up
        front). For hot paths whose few statements cost less than a Session's bookkeeping."""
        with self._write_engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite (``:memory:``, no
    file, or a ``mode=memory`` URI): what only this process can open."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("mode") == "memory":
        return None
    return Path(parsed.database)


def mask_password(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for printing and logging); unparsable: a placeholder."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL may still hold a password: show none of it
        return "<unparsable database URL>"


def open_database(
    url: str,
    *,
    key: DataKey | None = None,
    encrypt: bool = True,
    busy_timeout_ms: int = 10_000,
    echo: bool = False,
) -> Database:
    """Create the engine for ``url`` (creating the SQLite file's folder if needed) and connect once.

    A SQLite file is opened with SQLCipher and ``key`` (callers with a Config pass
    ``load_data_key(config)``; without one, ``DERMBOT_DATA_KEY`` is read); a missing or wrong key is a
    :class:`ConfigError` in one line. ``encrypt=False`` (tests and benchmarks only) opens a plain file.

    An unparsable URL or unknown driver is a :class:`ConfigError`; a database that cannot be reached
    is an :class:`UnreachableError`. Both name the URL with its password masked.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme = url.split(":", 1)[0][:40]  # never past the first colon: a password comes later
        raise ConfigError(
            f"[database] url is not a database URL it can parse (it starts with {scheme!r}); expected e.g. "
            "sqlite:///var/dermbot.sqlite3 or postgresql+psycopg://USER:PASSWORD@HOST:5432/DBNAME"
        ) from None
    # hide_parameters: SQL errors and echo never show bound values (a patient's words are values).
    kwargs: dict = {"echo": echo, "future": True, "hide_parameters": True}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and encrypt:
        key = key if key is not None else load_data_key()
        import sqlcipher3.dbapi2  # SQLite with SQLCipher: the same DB-API, an encrypted file

        kwargs["module"] = sqlcipher3.dbapi2
    elif sqlite:
        key = None  # a plain file by request
    # PostgreSQL: not encrypted here (the server's job), but a given key is kept for the keyed hashes
    # of the audit record (dermvqa.casework.audit).
    if sqlite:
        if (path := sqlite_path(url)) is not None:
            prepare_private_sqlite_file(path)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:  # an unknown dialect, or its driver is not installed
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"[database] url {mask_password(url)} cannot be used: {reason}") from None
    if key is not None and sqlite:
        _key_sqlcipher(engine, url, key)
    if sqlite:
        _configure_sqlite(engine, busy_timeout_ms)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:  # refused, unknown host, wrong password, a file that cannot be opened
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None and str(exc.orig).strip() else ""
        raise UnreachableError(
            f"cannot connect to the database at {mask_password(url)}: {reason or type(exc).__name__}"
        ) from None
    return Database(engine=engine, url=url, key=key, busy_timeout_ms=busy_timeout_ms)


def alembic_config(url: str):
    """An Alembic Config pointing at ``migrations/`` and ``url`` (no alembic.ini needed)."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def migration_lock(db: Database) -> Iterator[None]:
    """One migration at a time across processes: the bot, a worker and training may all start on a
    fresh database at once, and two Alembic upgrades racing on one file end in "database is locked"
    (or a half-applied revision). SQLite: an exclusive ``flock`` on ``<file>.migrate-lock``;
    PostgreSQL: a session advisory lock. The loser waits, then finds the schema at head."""
    path = sqlite_path(db.url)
    if path is not None:
        import fcntl

        fd = create_private_file(Path(f"{path}.migrate-lock"), exclusive=False)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
    elif make_url(db.url).get_backend_name() == "postgresql":
        from sqlalchemy import text

        with db.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(472911)"))  # a fixed key: "dermbot migrations"
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(472911)"))
                connection.commit()
    else:
        yield


def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (idempotent; every process calls it at start, one at a time)."""
    from alembic import command

    cfg = alembic_config(db.url)
    with migration_lock(db), db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    logger.info("database schema is at %s", revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

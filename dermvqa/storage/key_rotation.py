"""Re-encrypting everything under a new data key, resumably (an adapter: files and the database).

:func:`rotate_keys` first writes a marker file (the two keys' ids, never the keys) and records each
finished step in it, so a run that stops half-way (a crash, a power cut, Ctrl-C) is finished by
running it again with the same two keys:

1. the SQLite database: ``PRAGMA rekey`` (one SQLCipher transaction: the file is wholly under the old
   key or wholly under the new one; a rerun finds out which by trying the new key first);
2. the photo store (:func:`rotate_photo_store`): photo names are keyed hashes, so each photo gets a
   new name as well as a new encryption. For each file still under the old key: decrypt it, write it
   under its new name and key (temporary file, fsync, rename), point the database rows at the new
   name (``case_images`` and any pending outbox message, one transaction), and only then delete the
   old file. A crash at any point loses nothing: a rerun finds the old file still there and repeats
   the steps (each is idempotent); a file the new key already opens is skipped.

The service must be stopped while it runs (its connections hold the old key).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dermvqa.errors import ConfigError
from dermvqa.storage.database import Database, open_database, sqlite_path
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import DataKey
from dermvqa.storage.models import CaseImage, OutboxMessage
from dermvqa.storage.photo_cipher import PhotoCipher, PhotoDecryptError
from dermvqa.storage.private_files import write_private_file

logger = logging.getLogger(__name__)

MARKER_SUFFIX = ".key-rotation"


@dataclass
class RotationMarker:
    """Progress of one rotation, kept on disk next to the data."""

    old_key_id: str
    new_key_id: str
    database_done: bool = False
    photos_done: bool = False


@dataclass(frozen=True)
class RotationResult:
    database: str  # "rekeyed", "already under the new key", or "not SQLite (encrypted by the server)"
    photos_rewritten: int
    photos_already: int
    resumed: bool


def marker_path(url: str, storage_dir: Path) -> Path:
    """Beside the SQLite file; for another database, beside the photo folder."""
    path = sqlite_path(url)
    base = path if path is not None else storage_dir
    return base.with_name(base.name + MARKER_SUFFIX)


def read_marker(path: Path) -> RotationMarker | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise ConfigError(f"the key rotation marker {path} cannot be read; it is not valid JSON") from None
    try:
        return RotationMarker(**raw)
    except TypeError:
        raise ConfigError(f"the key rotation marker {path} has unexpected fields") from None


def write_marker(path: Path, marker: RotationMarker) -> None:
    write_private_file(path, json.dumps(asdict(marker), indent=2).encode("utf-8"), durable=True)


def rekey_database(url: str, old: DataKey, new: DataKey) -> str:
    """Re-encrypt a SQLite file from ``old`` to ``new`` (idempotent). Returns what it found or did."""
    path = sqlite_path(url)
    if path is None:
        return "not SQLite (encrypted by the server)"
    if not path.exists():
        return "no database file yet"
    try:
        open_database(url, key=new).dispose()
        return "already under the new key"
    except ConfigError:
        pass  # still under the old key (checked next)
    try:
        db = open_database(url, key=old)
    except ConfigError:
        raise ConfigError(
            f"neither the current data key (key id {old.key_id}) nor the new one (key id {new.key_id}) "
            "opens the database; nothing was changed"
        ) from None
    try:
        connection = db.engine.raw_connection()
        try:
            driver = connection.driver_connection
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            driver.execute(f"PRAGMA rekey = {new.sqlcipher_key()}")
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.invalidate()  # never back to the pool: it holds the new key, the pool the old one
    finally:
        db.dispose()
    open_database(url, key=new).dispose()  # the new key opens it now (raises otherwise)
    return "rekeyed"


def encrypt_plain_database(url: str, key: DataKey) -> str:
    """Convert a plaintext SQLite file (from before encryption) into an encrypted one under ``key``.

    The encrypted copy is written beside it (``sqlcipher_export``), checked, then renamed over it, so a
    crash leaves either the plaintext file or the encrypted one, never half of each. Run it once, with
    the service stopped. The plaintext's disk blocks are freed, not overwritten (see the README).
    """
    path = sqlite_path(url)
    if path is None or not path.exists():
        raise ConfigError("[database] url: no SQLite file to encrypt")
    with path.open("rb") as file:
        if file.read(16) != b"SQLite format 3\x00":
            return "already encrypted"
    import sqlcipher3.dbapi2 as sqlcipher

    copy = path.with_name(path.name + ".encrypting")
    copy.unlink(missing_ok=True)
    plain = sqlcipher.connect(str(path), isolation_level=None)
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        plain.execute(f"ATTACH DATABASE ? AS encrypted KEY {key.sqlcipher_key()}", (str(copy),))
        plain.execute("SELECT sqlcipher_export('encrypted')")
        plain.execute("DETACH DATABASE encrypted")
    finally:
        plain.close()
    checked = open_database(f"sqlite:///{copy}", key=key)  # the key opens the copy (raises otherwise)
    checked.dispose()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
        copy.with_name(copy.name + suffix).unlink(missing_ok=True)
    os.replace(copy, path)
    return "encrypted"


def reencrypt_photo_files(files: Iterable[Path], old: DataKey, new: DataKey) -> tuple[int, int]:
    """Rewrite each stored photo file under ``new`` (name kept). Returns (rewritten, already under new).

    A file that neither key opens stops the run with :class:`PhotoDecryptError` (naming no path);
    files done so far stay done, and a rerun skips them.
    """
    old_cipher, new_cipher = PhotoCipher(old), PhotoCipher(new)
    rewritten = already = 0
    for path in files:
        blob = path.read_bytes()
        try:
            new_cipher.decrypt(blob, path.name)
            already += 1
            continue
        except PhotoDecryptError:
            pass
        try:
            data = old_cipher.decrypt(blob, path.name)
        except PhotoDecryptError:
            raise PhotoDecryptError(
                f"a stored photo (after {rewritten + already} done) opens with neither the current data key "
                "nor the new one; it was left as it is"
            ) from None
        write_private_file(path, new_cipher.encrypt(data, path.name), durable=True)
        rewritten += 1
    return rewritten, already


def rotate_photo_store(db: Database | None, storage_dir: Path, old: DataKey, new: DataKey) -> tuple[int, int]:
    """Re-encrypt and rename every photo of the store at ``storage_dir`` from ``old`` to ``new``, and
    point the database rows at the new names (see the module docstring). Returns (rewritten, already
    under the new key). A file neither key opens stops the run with :class:`PhotoDecryptError`
    (naming no path); the files done so far stay done, and a rerun skips them.
    """
    old_store, new_store = ImageStore(storage_dir, old), ImageStore(storage_dir, new)
    if storage_dir.is_dir():
        for leftover in storage_dir.glob("??/??/*.tmp"):  # a write cut short by a crash (service stopped)
            leftover.unlink(missing_ok=True)
    rewritten = 0
    under_new: set[str] = set()  # files found under the new key (done earlier, or a copy cut short)
    written: set[str] = set()
    for name in list(old_store.names()):
        try:
            new_store.read(name)
            under_new.add(name)
            continue
        except PhotoDecryptError:
            pass
        try:
            data = old_store.read(name)
        except PhotoDecryptError:
            raise PhotoDecryptError(
                f"a stored photo (after {rewritten + len(under_new)} done) opens with neither the current data key "
                "nor the new one; it was left as it is"
            ) from None
        new_name = new_store.name_for(data)
        written.add(new_name)
        new_store.write_encrypted(new_name, data)  # 1. the new file (fsynced, renamed into place)
        if db is not None:
            with db.write() as session:  # 2. the rows, in one transaction
                session.execute(update(CaseImage).where(CaseImage.sha256 == name).values(sha256=new_name))
                _rename_in_outbox(session, name, new_name)
        old_store.delete(name)  # 3. only now the old file
        rewritten += 1
    return rewritten, len(under_new - written)


def _rename_in_outbox(session, name: str, new_name: str) -> None:
    """Pending messages that will upload the photo by name (review posts) get the new name."""
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending")):
        payload = _renamed(row.payload, name, new_name)
        if payload != row.payload:
            row.payload = payload


def _renamed(value, name: str, new_name: str):
    if isinstance(value, dict):
        return {k: _renamed(v, name, new_name) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, name, new_name) for v in value]
    return new_name if value == name else value


def rotate_keys(
    url: str,
    storage_dir: Path,
    old: DataKey,
    new: DataKey,
    photo_files: Iterable[Path] = (),
    *,
    rekey_rows: Callable[[Session, DataKey, DataKey], int] | None = None,
) -> RotationResult:
    """Re-encrypt the database and the photo store at ``storage_dir`` (renaming its photos, see
    :func:`rotate_photo_store`) from ``old`` to ``new``, resuming an unfinished run.

    ``photo_files``: other encrypted photo files to re-encrypt keeping their names (none in the service).
    ``rekey_rows``: re-keys rows that hold keyed hashes (the audit's case keys), in one transaction
    under the new key; it must be idempotent (it runs again when a crashed rotation is resumed).
    """
    if old.key_id == new.key_id:
        raise ConfigError("the new data key is the current one: nothing to rotate")
    path = marker_path(url, storage_dir)
    marker = read_marker(path)
    resumed = marker is not None
    if marker is None:
        marker = RotationMarker(old_key_id=old.key_id, new_key_id=new.key_id)
        write_marker(path, marker)
    elif (marker.old_key_id, marker.new_key_id) != (old.key_id, new.key_id):
        raise ConfigError(
            f"an unfinished rotation from key id {marker.old_key_id} to key id {marker.new_key_id} is recorded in "
            f"{path}; run it again with those two keys (now: key id {old.key_id} to key id {new.key_id})"
        )
    database = "done in an earlier run"
    if not marker.database_done:
        database = rekey_database(url, old, new)
        marker.database_done = True
        write_marker(path, marker)
        logger.info("key rotation: database %s", database)
    rewritten = already = 0
    if not marker.photos_done:
        file = sqlite_path(url)
        db = open_database(url, key=new) if file is None or file.exists() else None  # PostgreSQL ignores the key
        try:
            if db is not None and rekey_rows is not None:
                with db.write() as session:
                    logger.info("key rotation: %d keyed rows re-keyed", rekey_rows(session, old, new))
            rewritten, already = rotate_photo_store(db, storage_dir, old, new)
        finally:
            if db is not None:
                db.dispose()
        more_rewritten, more_already = reencrypt_photo_files(photo_files, old, new)
        rewritten, already = rewritten + more_rewritten, already + more_already
        marker.photos_done = True
        write_marker(path, marker)
        logger.info("key rotation: %d photos re-encrypted, %d already under the new key", rewritten, already)
    path.unlink()
    return RotationResult(database, rewritten, already, resumed)

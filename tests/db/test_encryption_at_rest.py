"""The SQLite file is encrypted as a whole (SQLCipher): no patient's words on disk, a clear error for a
missing or wrong key, and a key rotation that survives a crash half-way."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from support.cases import photo_bytes

from bot.cli import main as dermbot
from dermvqa.casework import intake
from dermvqa.config import DATA_KEY_ENV, NEW_DATA_KEY_ENV, IntakeConfig
from dermvqa.errors import ConfigError
from dermvqa.storage import key_rotation
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.key_rotation import marker_path, read_marker, reencrypt_photo_files, rotate_keys
from dermvqa.storage.keys import new_key_text, parse_key
from dermvqa.storage.models import Case
from dermvqa.storage.photo_cipher import PhotoCipher, PhotoDecryptError

WORDS = "zebra-striped rash behind my left knee since the wedding in Gdansk"
LIMITS = IntakeConfig()


def write_case_through_intake(db, store, user_id: int = 7) -> int:
    intake.consent(db, user_id, user_id, "en")
    stored = intake.store_photo(store, photo_bytes(), LIMITS, max_pixels=10**8)
    intake.attach_photo(db, user_id, stored, LIMITS)
    intake.add_description(db, user_id, WORDS, LIMITS)
    return intake.submit(db, user_id, LIMITS, max_attempts=3).case_id


def database_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith((".sqlite3", "-wal", "-shm"))]


def bytes_on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in database_files(folder))


def open_fresh(tmp_path: Path, key, name: str = "dermbot.sqlite3", **kw):
    db = open_database(f"sqlite:///{tmp_path / name}", key=key, **kw)
    upgrade(db)
    return db


def test_no_description_in_the_file_or_its_wal(tmp_path, store, data_key):
    db = open_fresh(tmp_path, data_key)
    case_id = write_case_through_intake(db, store)
    with db.read() as session:  # readable through the key
        assert session.get(Case, case_id).description == WORDS
    files = {p.name for p in database_files(tmp_path)}
    assert {"dermbot.sqlite3", "dermbot.sqlite3-wal"} <= files  # the WAL holds the newest pages now
    for needle in (WORDS, "zebra-striped", "Gdansk"):
        assert needle.encode() not in bytes_on_disk(tmp_path)
    db.dispose()  # the WAL is checkpointed into the file
    on_disk = bytes_on_disk(tmp_path)
    assert b"zebra-striped" not in on_disk and b"Gdansk" not in on_disk
    assert not (tmp_path / "dermbot.sqlite3").read_bytes().startswith(b"SQLite format 3")


def test_the_same_search_finds_the_words_in_a_plain_file(tmp_path, store):
    """The control: the byte search above would see a plaintext description."""
    db = open_fresh(tmp_path, None, encrypt=False)
    write_case_through_intake(db, store)
    assert b"zebra-striped" in bytes_on_disk(tmp_path)
    db.dispose()
    assert (tmp_path / "dermbot.sqlite3").read_bytes().startswith(b"SQLite format 3")


def test_connections_zero_deleted_content_and_keep_the_service_pragmas(tmp_path, data_key):
    db = open_fresh(tmp_path, data_key)
    with db.read() as session:
        pragmas = {
            name: session.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("secure_delete", "foreign_keys", "journal_mode", "busy_timeout")
        }
        assert session.execute(text("PRAGMA cipher_version")).scalar()  # SQLCipher is the driver
    assert pragmas == {"secure_delete": 1, "foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 10_000}
    db.dispose()


def test_a_wrong_key_is_one_clear_line(tmp_path, store, data_key):
    db = open_fresh(tmp_path, data_key)
    write_case_through_intake(db, store)
    db.dispose()
    other = parse_key(new_key_text(), "other")
    with pytest.raises(ConfigError) as err:
        open_database(f"sqlite:///{tmp_path / 'dermbot.sqlite3'}", key=other)
    message = str(err.value)
    assert "does not open the database" in message and other.key_id in message and "\n" not in message
    assert other.material.hex() not in message and other.database_key.hex() not in message


def test_a_plaintext_file_is_not_opened_as_if_encrypted(tmp_path, data_key):
    open_fresh(tmp_path, None, encrypt=False).dispose()
    with pytest.raises(ConfigError, match=r"is not encrypted .* run `dermbot keys encrypt-database` once"):
        open_database(f"sqlite:///{tmp_path / 'dermbot.sqlite3'}", key=data_key)


def test_a_missing_key_names_both_options(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_KEY_ENV)
    with pytest.raises(ConfigError) as err:
        open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert DATA_KEY_ENV in str(err.value) and "[storage] key_file" in str(err.value)


def test_the_service_command_stops_at_start_without_a_key(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n', encoding="utf-8")
    monkeypatch.delenv(DATA_KEY_ENV)
    assert dermbot(["--config", str(config), "migrate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no data key" in err and DATA_KEY_ENV in err and "key_file" in err
    assert not (tmp_path / "db.sqlite3").exists()  # stopped before touching anything


# -- rotation ---------------------------------------------------------------------------------------


def case_text(url: str, key, case_id: int) -> str:
    db = open_database(url, key=key)
    try:
        with db.read() as session:
            return session.scalar(select(Case.description).where(Case.id == case_id))
    finally:
        db.dispose()


def test_rotate_re_encrypts_the_database_and_the_old_key_opens_nothing(tmp_path, store, data_key):
    db = open_fresh(tmp_path, data_key)
    case_id = write_case_through_intake(db, store)
    db.dispose()
    new = parse_key(new_key_text(), "new")
    result = rotate_keys(db.url, tmp_path / "images", data_key, new, [])
    assert (result.database, result.resumed) == ("rekeyed", False)
    assert case_text(db.url, new, case_id) == WORDS
    with pytest.raises(ConfigError):
        open_database(db.url, key=data_key)
    assert not marker_path(db.url, tmp_path / "images").exists()
    assert b"zebra-striped" not in bytes_on_disk(tmp_path)


def test_a_rotation_that_crashed_after_writing_its_marker_resumes(tmp_path, store, data_key, monkeypatch):
    db = open_fresh(tmp_path, data_key)
    case_id = write_case_through_intake(db, store)
    db.dispose()
    new = parse_key(new_key_text(), "new")
    real_rekey = key_rotation.rekey_database

    def crash(*_args):
        raise KeyboardInterrupt  # the power goes: the marker is written, the database untouched

    monkeypatch.setattr(key_rotation, "rekey_database", crash)
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(db.url, tmp_path / "images", data_key, new, [])
    marker = read_marker(marker_path(db.url, tmp_path / "images"))
    assert (marker.old_key_id, marker.new_key_id, marker.database_done) == (data_key.key_id, new.key_id, False)
    assert case_text(db.url, data_key, case_id) == WORDS  # still under the old key

    # A rerun with other keys is refused; the same two keys finish the job.
    with pytest.raises(ConfigError, match="unfinished rotation"):
        rotate_keys(db.url, tmp_path / "images", data_key, parse_key(new_key_text(), "third"), [])
    monkeypatch.setattr(key_rotation, "rekey_database", real_rekey)
    result = rotate_keys(db.url, tmp_path / "images", data_key, new, [])
    assert result.resumed and result.database == "rekeyed"
    assert case_text(db.url, new, case_id) == WORDS


def test_a_rotation_that_crashed_after_the_rekey_resumes(tmp_path, store, data_key):
    db = open_fresh(tmp_path, data_key)
    case_id = write_case_through_intake(db, store)
    db.dispose()
    new = parse_key(new_key_text(), "new")
    marker = marker_path(db.url, tmp_path / "images")
    key_rotation.write_marker(marker, key_rotation.RotationMarker(data_key.key_id, new.key_id))
    key_rotation.rekey_database(db.url, data_key, new)  # done, but the marker never learnt it
    result = rotate_keys(db.url, tmp_path / "images", data_key, new, [])
    assert result.resumed and result.database == "already under the new key"
    assert case_text(db.url, new, case_id) == WORDS and not marker.exists()


def test_photo_files_are_re_encrypted_resumably(tmp_path, data_key):
    old_cipher = PhotoCipher(data_key)
    new = parse_key(new_key_text(), "new")
    files = []
    for i in range(3):
        data = photo_bytes(color=(i * 40, 10, 10))
        path = tmp_path / old_cipher.name_for(data)
        path.write_bytes(old_cipher.encrypt(data, path.name))
        files.append((path, data))
    # One file was done by an earlier, interrupted run.
    reencrypt_photo_files([files[0][0]], data_key, new)
    assert reencrypt_photo_files([p for p, _ in files], data_key, new) == (2, 1)
    new_cipher = PhotoCipher(new)
    for path, data in files:
        assert new_cipher.decrypt(path.read_bytes(), path.name) == data
        with pytest.raises(PhotoDecryptError):
            old_cipher.decrypt(path.read_bytes(), path.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p, _ in files)  # no leftovers


def test_a_photo_neither_key_opens_stops_the_rotation_and_is_left_alone(tmp_path, data_key):
    path = tmp_path / "f"
    path.write_bytes(b"\x01" + bytes(60))
    with pytest.raises(PhotoDecryptError, match="neither") as err:
        reencrypt_photo_files([path], data_key, parse_key(new_key_text(), "new"))
    assert str(tmp_path) not in str(err.value)
    assert path.read_bytes() == b"\x01" + bytes(60)


def test_the_keys_commands(tmp_path, store, data_key, monkeypatch, capsys):
    config = tmp_path / "config.toml"
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    assert dermbot(["--config", str(config), "migrate"]) == 0
    capsys.readouterr()
    assert dermbot(["keys", "new"]) == 0
    printed = capsys.readouterr().out.strip()
    new = parse_key(printed, "printed")
    assert dermbot(["--config", str(config), "keys", "rotate"]) == 2
    assert NEW_DATA_KEY_ENV in capsys.readouterr().err
    monkeypatch.setenv(NEW_DATA_KEY_ENV, printed)
    assert dermbot(["--config", str(config), "keys", "rotate"]) == 0
    out = capsys.readouterr().out
    assert "rotated" in out and new.key_id in out and printed not in out
    monkeypatch.setenv(DATA_KEY_ENV, printed)
    monkeypatch.delenv(NEW_DATA_KEY_ENV)
    assert dermbot(["--config", str(config), "migrate"]) == 0


def test_a_plaintext_database_from_before_is_encrypted_once(tmp_path, store, data_key, monkeypatch, capsys):
    plain = open_fresh(tmp_path, None, encrypt=False)
    case_id = write_case_through_intake(plain, store)
    plain.dispose()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{plain.url}"\n', encoding="utf-8")
    assert dermbot(["--config", str(config), "keys", "encrypt-database"]) == 0
    assert "database encrypted" in capsys.readouterr().out
    assert b"zebra-striped" not in bytes_on_disk(tmp_path)
    assert sorted(p.name for p in database_files(tmp_path)) == ["dermbot.sqlite3"]  # no copy, no old WAL
    assert case_text(plain.url, data_key, case_id) == WORDS
    assert dermbot(["--config", str(config), "keys", "encrypt-database"]) == 0
    assert "already encrypted" in capsys.readouterr().out
    assert dermbot(["--config", str(config), "migrate"]) == 0  # the service opens it


def test_rotation_re_keys_the_audit_so_decisions_stay_answerable(tmp_path, store, data_key):
    from dermvqa.casework.audit import decisions_for_case, record_decision, rekey_audit

    db = open_fresh(tmp_path, data_key)
    case_id = write_case_through_intake(db, store)
    with db.write() as session:
        record_decision(session, data_key.audit_key, case_id, "approve", 900)
    db.dispose()
    new = parse_key(new_key_text(), "new")
    rotate_keys(db.url, tmp_path / "images", data_key, new, rekey_rows=rekey_audit)
    rotated = open_database(db.url, key=new)
    try:
        assert [(e.action, e.clinician_id) for e in decisions_for_case(rotated, case_id)] == [("approve", 900)]
    finally:
        rotated.dispose()

"""The data key: its format, its two sources, the key file's permissions, the derived subkeys."""

from __future__ import annotations

import os

import pytest

from dermvqa.config import DATA_KEY_ENV, NEW_DATA_KEY_ENV, child_environment, load_config
from dermvqa.errors import ConfigError
from dermvqa.storage.keys import (
    NO_KEY_MESSAGE,
    DataKey,
    load_data_key,
    new_key_text,
    parse_key,
    read_key_file,
    write_key_file,
)

KEY = "0f" * 32


def config_with_key_file(tmp_path, name: str = "data.key"):
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\nkey_file = "{name}"\n', encoding="utf-8")
    return load_config(path, environ={})


def test_a_new_key_is_64_random_hex_characters():
    first, second = new_key_text(), new_key_text()
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != second
    assert parse_key(first, "x").material == bytes.fromhex(first)


@pytest.mark.parametrize("bad", ["", "abc", "0f" * 31, "0f" * 33, "zz" * 32, "0f" * 16 + " " + "0f" * 16])
def test_a_malformed_key_names_the_source_and_the_format_never_the_text(bad):
    with pytest.raises(ConfigError) as err:
        parse_key(bad, DATA_KEY_ENV)
    message = str(err.value)
    assert DATA_KEY_ENV in message and "64 hex characters" in message and "dermbot keys new" in message
    if bad.strip():
        assert bad.strip() not in message


def test_surrounding_white_space_and_upper_case_are_accepted():
    assert parse_key(f"  {KEY.upper()}\n", "x") == parse_key(KEY, "x")


def test_the_key_comes_from_the_environment():
    assert load_data_key(environ={DATA_KEY_ENV: KEY}).material == bytes.fromhex(KEY)


def test_no_key_is_one_line_naming_both_options():
    with pytest.raises(ConfigError) as err:
        load_data_key(environ={})
    message = str(err.value)
    assert message == NO_KEY_MESSAGE and "\n" not in message
    assert DATA_KEY_ENV in message and "[storage] key_file" in message and "dermbot keys new" in message


def test_the_key_comes_from_the_key_file_relative_to_the_config(tmp_path):
    write_key_file(tmp_path / "data.key", KEY)
    assert oct((tmp_path / "data.key").stat().st_mode & 0o777) == oct(0o600)
    key = load_data_key(config_with_key_file(tmp_path), environ={})
    assert key.material == bytes.fromhex(KEY)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path, mode):
    write_key_file(tmp_path / "data.key", KEY)
    os.chmod(tmp_path / "data.key", mode)
    with pytest.raises(ConfigError) as err:
        load_data_key(config_with_key_file(tmp_path), environ={})
    message = str(err.value)
    assert "[storage] key_file" in message and f"{mode:04o}" in message and "chmod 600" in message
    assert KEY not in message


def test_a_missing_key_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"\[storage\] key_file .*nope.key: no such file"):
        load_data_key(config_with_key_file(tmp_path, "nope.key"), environ={})


def test_a_key_file_with_a_malformed_key_is_refused(tmp_path):
    path = tmp_path / "data.key"
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="64 hex characters"):
        read_key_file(path)


def test_both_sources_at_once_are_refused(tmp_path):
    write_key_file(tmp_path / "data.key", KEY)
    with pytest.raises(ConfigError, match="keep only one"):
        load_data_key(config_with_key_file(tmp_path), environ={DATA_KEY_ENV: KEY})


def test_a_key_file_is_never_overwritten(tmp_path):
    write_key_file(tmp_path / "data.key", KEY)
    with pytest.raises(FileExistsError):
        write_key_file(tmp_path / "data.key", new_key_text())
    assert read_key_file(tmp_path / "data.key").material == bytes.fromhex(KEY)


def test_subkeys_differ_from_each_other_and_from_the_key():
    key = parse_key(KEY, "x")
    subkeys = {key.database_key, key.photo_key, key.name_key, key.material}
    assert len(subkeys) == 4 and all(len(k) == 32 for k in subkeys)
    assert parse_key(KEY, "y").database_key == key.database_key  # deterministic
    assert parse_key(new_key_text(), "z").database_key != key.database_key


def test_neither_repr_nor_the_key_id_reveals_the_key():
    key = parse_key(KEY, "x")
    assert KEY not in repr(key) and key.material.hex() not in repr(key)
    assert key.key_id in repr(key) and len(key.key_id) == 12 and key.key_id not in KEY
    with pytest.raises(ConfigError):
        DataKey(b"short")


def test_the_data_key_variables_are_not_configuration_overrides_but_reach_children():
    env = {DATA_KEY_ENV: KEY, NEW_DATA_KEY_ENV: KEY}
    load_config(environ=env)  # would raise "[data] has no key ..." if parsed as an override
    assert child_environment(env)[DATA_KEY_ENV] == KEY  # the worker needs it


def test_a_child_environment_can_put_a_checkout_first_on_the_import_path():
    env = {"PYTHONPATH": "/extra", DATA_KEY_ENV: KEY}
    assert child_environment(env, import_root="/repo")["PYTHONPATH"] == f"/repo{os.pathsep}/extra"
    assert child_environment({}, import_root="/repo")["PYTHONPATH"] == "/repo"
    assert "PYTHONPATH" not in child_environment({})

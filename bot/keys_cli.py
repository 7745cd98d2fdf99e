"""``dermbot keys new|rotate``: the operator's data key (see dermvqa/storage/keys.py).

    dermbot keys new [--file PATH]          a fresh random key: printed, or written to PATH (mode 600)
    dermbot keys rotate [--new-key-file P]  re-encrypt the database (and photos) under a new key
    dermbot keys encrypt-database           once, after upgrading: encrypt a plaintext SQLite file

``rotate`` reads the current key as the service does (``DERMBOT_DATA_KEY`` or ``[storage]
key_file``) and the new one from ``DERMBOT_NEW_DATA_KEY`` or ``--new-key-file``. Stop the service
first. A marker beside the database records progress: if the run stops half-way, run the same command
again with the same two keys. When it is done, give the service the new key and start it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dermvqa.casework.audit import rekey_audit
from dermvqa.config import NEW_DATA_KEY_ENV, Config
from dermvqa.errors import ConfigError
from dermvqa.storage.key_rotation import encrypt_plain_database, rotate_keys
from dermvqa.storage.keys import DataKey, load_data_key, new_key_text, parse_key, read_key_file, write_key_file


def cmd_keys_new(config: Config, args: argparse.Namespace) -> int:
    text = new_key_text()
    if args.file is None:
        print(text)
        return 0
    try:
        write_key_file(Path(args.file), text)
    except FileExistsError:
        raise ConfigError(f"{args.file}: already exists; a key file is never overwritten") from None
    print(f"new data key written to {args.file} (mode 600, key id {parse_key(text, 'new key').key_id})")
    return 0


def _new_key(args: argparse.Namespace) -> DataKey:
    text = os.environ.get(NEW_DATA_KEY_ENV, "").strip()
    if text and args.new_key_file:
        raise ConfigError(f"both {NEW_DATA_KEY_ENV} and --new-key-file are set: keep only one of them")
    if text:
        return parse_key(text, NEW_DATA_KEY_ENV)
    if args.new_key_file:
        return read_key_file(Path(args.new_key_file), "--new-key-file")
    raise ConfigError(
        f"no new data key: set {NEW_DATA_KEY_ENV} (64 hex characters; generate one with `dermbot keys new`) "
        "or pass --new-key-file (a file readable only by its owner)"
    )


def cmd_keys_rotate(config: Config, args: argparse.Namespace) -> int:
    old, new = load_data_key(config), _new_key(args)
    # The photo store is rotated (and renamed: names are keyed hashes) by rotate_keys itself; the audit's
    # keyed case hashes are re-keyed so "who approved case #N" stays answerable under the new key.
    result = rotate_keys(config.database_url, config.storage_dir, old, new, rekey_rows=rekey_audit)
    print(
        f"data key rotated{' (resumed)' if result.resumed else ''}: database {result.database}; "
        f"photos: {result.photos_rewritten} re-encrypted, {result.photos_already} already under the new key"
    )
    print(
        f"now give the service the new key (key id {new.key_id}) in DERMBOT_DATA_KEY or [storage] key_file, "
        "and start it; the old key opens nothing any more"
    )
    return 0


def cmd_keys_encrypt_database(config: Config, args: argparse.Namespace) -> int:
    key = load_data_key(config)
    outcome = encrypt_plain_database(config.database_url, key)
    print(f"database {outcome} (key id {key.key_id})")
    return 0


def add_commands(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", parents=parents, help="the data key: new, or rotate to a new one")
    actions = keys.add_subparsers(dest="keys_action", required=True)
    new = actions.add_parser("new", parents=parents, help="print a fresh random data key (or write it to a file)")
    new.add_argument("--file", help="write the key to this new file (mode 600) instead of printing it")
    new.set_defaults(func=cmd_keys_new)
    rotate = actions.add_parser(
        "rotate", parents=parents, help=f"re-encrypt everything under the key in {NEW_DATA_KEY_ENV} (stop the service)"
    )
    rotate.add_argument("--new-key-file", help=f"read the new key from this file instead of {NEW_DATA_KEY_ENV}")
    rotate.set_defaults(func=cmd_keys_rotate)
    actions.add_parser(
        "encrypt-database", parents=parents, help="encrypt a plaintext SQLite file from before encryption (once)"
    ).set_defaults(func=cmd_keys_encrypt_database)

"""The data key: where it comes from, how it is checked, and the subkeys derived from it.

Patients' photos and descriptions are health data, so they are encrypted at rest with one data key
that the operator keeps outside the data folder:

* ``DERMBOT_DATA_KEY``: 64 hex characters (32 random bytes), e.g. from ``dermbot keys new``; or
* ``[storage] key_file``: a file holding the same 64 hex characters, readable only by its owner
  (``chmod 600``); used when the variable is not set. Setting both is refused (which one is meant?).

The key itself never encrypts anything: HKDF-SHA256 derives one subkey per use (the SQLCipher
database, the photo cipher, the keyed photo names, the audit record's case keys), so no two uses
share key material. The key is never logged, printed or put in an exception text;
:attr:`DataKey.key_id` (a one-way fingerprint) names a key in messages and in the rotation marker.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dermvqa.config import DATA_KEY_ENV, Config
from dermvqa.errors import ConfigError

KEY_BYTES = 32
KEY_HEX_CHARS = 2 * KEY_BYTES
_HEX = re.compile(rf"[0-9a-fA-F]{{{KEY_HEX_CHARS}}}")
_HKDF_SALT = b"dermbot data key v1"

# The subkeys' purposes (HKDF "info"); changing one makes every stored file unreadable.
DATABASE = b"dermbot/sqlcipher-database"
PHOTO_CIPHER = b"dermbot/photo-cipher"
PHOTO_NAME = b"dermbot/photo-name"
AUDIT_CASE = b"dermbot/audit-case-key"  # the keyed hash naming a case in the audit record
_KEY_ID = b"dermbot/key-id"

NO_KEY_MESSAGE = (
    f"no data key: set {DATA_KEY_ENV} ({KEY_HEX_CHARS} hex characters; generate one with `dermbot keys new`) "
    "or [storage] key_file (a file holding it, readable only by its owner)"
)


@dataclass(frozen=True)
class DataKey:
    """32 secret bytes; its ``repr`` shows only the key id."""

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise ConfigError(f"a data key has {KEY_BYTES} bytes ({KEY_HEX_CHARS} hex characters)")

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id!r})"

    def subkey(self, purpose: bytes) -> bytes:
        """32 bytes for one purpose (HKDF-SHA256); different purposes give unrelated keys."""
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_HKDF_SALT, info=purpose).derive(self.material)

    @property
    def key_id(self) -> str:
        """A short one-way fingerprint (12 hex characters) to name the key without revealing it."""
        return hashlib.sha256(self.subkey(_KEY_ID)).hexdigest()[:12]

    @property
    def database_key(self) -> bytes:
        return self.subkey(DATABASE)

    @property
    def photo_key(self) -> bytes:
        return self.subkey(PHOTO_CIPHER)

    @property
    def name_key(self) -> bytes:
        return self.subkey(PHOTO_NAME)

    @property
    def audit_key(self) -> bytes:
        return self.subkey(AUDIT_CASE)

    def sqlcipher_key(self) -> str:
        """The value for ``PRAGMA key``/``rekey``: a raw key (``x'..'``), so SQLCipher skips its slow PBKDF2."""
        return f"\"x'{self.database_key.hex()}'\""


def new_key_text() -> str:
    """A fresh random data key as 64 hex characters."""
    return secrets.token_hex(KEY_BYTES)


def parse_key(text: str, source: str) -> DataKey:
    """The key in ``text`` (64 hex characters, surrounding white space ignored); ``source`` names where it came from.

    The message of a bad key names the source and the format, never the text itself.
    """
    value = text.strip()
    if not _HEX.fullmatch(value):
        raise ConfigError(
            f"{source}: not a data key: expected {KEY_HEX_CHARS} hex characters (0-9, a-f), "
            f"got {len(value)} characters; generate one with `dermbot keys new`"
        )
    return DataKey(bytes.fromhex(value))


def read_key_file(path: Path, source: str = "[storage] key_file") -> DataKey:
    """The key in ``path``, refused unless it is a regular file that only its owner can read or write."""
    where = f"{source} {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where}: not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{where}: other users may read it (mode {mode:04o}); it must be readable only by its owner: "
            f"chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({type(exc).__name__})") from None
    return parse_key(text, where)


def load_data_key(config: Config | None = None, environ: Mapping[str, str] | None = None) -> DataKey:
    """The data key from ``DERMBOT_DATA_KEY``, else from ``config``'s ``[storage] key_file``.

    Neither, both, a malformed key or a key file others can read: :class:`ConfigError` with one line
    naming both options (the service stops at start).
    """
    environ = os.environ if environ is None else environ
    text = environ.get(DATA_KEY_ENV, "").strip()
    key_file = config.storage.key_file.strip() if config is not None else ""
    if text and key_file:
        raise ConfigError(f"both {DATA_KEY_ENV} and [storage] key_file are set: keep only one of them")
    if text:
        return parse_key(text, DATA_KEY_ENV)
    if key_file:
        return read_key_file(config.resolve_path(key_file))
    raise ConfigError(NO_KEY_MESSAGE)


def write_key_file(path: Path, key_text: str) -> None:
    """Create ``path`` (mode 600, never overwriting) holding ``key_text``."""
    parse_key(key_text, str(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key_text.strip() + "\n")


def use_ephemeral_key(environ: MutableMapping[str, str] | None = None) -> DataKey:
    """Put a fresh random key in ``DERMBOT_DATA_KEY`` (the demo and benchmarks: throwaway data) and return it.

    Child processes started afterwards with this environment inherit it; the data it encrypts cannot
    be read once the process ends.
    """
    environ = os.environ if environ is None else environ
    text = new_key_text()
    environ[DATA_KEY_ENV] = text
    return parse_key(text, DATA_KEY_ENV)

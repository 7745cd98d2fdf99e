"""Photos encrypted at rest: AES-256-GCM per file, and keyed file names (pure, no I/O).

A stored file is ``version (1 byte) | nonce (12 random bytes) | ciphertext and 16-byte tag``. The
associated data binds the ciphertext to the file's name, so a file copied or renamed over another
photo's name fails to decrypt instead of showing the wrong patient's photo. Any changed byte, or
another data key, fails the same way: :class:`PhotoDecryptError`, whose message names neither the
file nor its content.

File names are HMAC-SHA256 of the photo with the name subkey (hex): the same photo sent twice still
gets one file, but a name no longer reveals whether a known picture is stored (a plain sha256 would).
The subkeys come from :class:`dermvqa.storage.keys.DataKey` (HKDF, one per purpose).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dermvqa.errors import ImageError
from dermvqa.storage.keys import DataKey

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + NONCE_BYTES
_AAD_PREFIX = b"dermbot photo v1\x00"


class PhotoDecryptError(ImageError):
    """A stored photo cannot be decrypted: changed on disk, moved to another name, or another key."""


class PhotoCipher:
    """Encrypts and decrypts stored photos with one data key's photo subkeys."""

    def __init__(self, key: DataKey) -> None:
        self._aead = AESGCM(key.photo_key)
        self._name_key = key.name_key
        self.key_id = key.key_id

    def __repr__(self) -> str:
        return f"PhotoCipher(key_id={self.key_id!r})"

    def name_for(self, data: bytes) -> str:
        """The stored file name of a photo: HMAC-SHA256 of its bytes with the name subkey, hex."""
        return hmac.new(self._name_key, data, hashlib.sha256).hexdigest()

    def encrypt(self, data: bytes, name: str) -> bytes:
        """The file's bytes for photo ``data`` stored as ``name`` (a fresh random nonce each call)."""
        nonce = os.urandom(NONCE_BYTES)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, data, _aad(name))

    def decrypt(self, blob: bytes, name: str) -> bytes:
        """The photo in a file written by :meth:`encrypt` for ``name``; :class:`PhotoDecryptError` if it is not."""
        if len(blob) < HEADER_BYTES + TAG_BYTES:
            raise PhotoDecryptError("a stored photo cannot be decrypted: the file is truncated")
        if blob[0] != VERSION:
            raise PhotoDecryptError(f"a stored photo cannot be decrypted: unknown format version {blob[0]}")
        nonce = blob[1:HEADER_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[HEADER_BYTES:], _aad(name))
        except InvalidTag:
            raise PhotoDecryptError(
                "a stored photo cannot be decrypted: it was changed on disk, stored under another name, "
                "or encrypted with another data key"
            ) from None


def _aad(name: str) -> bytes:
    return _AAD_PREFIX + name.encode("utf-8")

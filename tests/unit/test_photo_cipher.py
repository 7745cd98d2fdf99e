"""The photo cipher: AES-GCM per file bound to its name, and keyed file names."""

from __future__ import annotations

import hashlib

import pytest

from dermvqa.errors import DermError, ImageError
from dermvqa.storage.keys import new_key_text, parse_key
from dermvqa.storage.photo_cipher import HEADER_BYTES, TAG_BYTES, VERSION, PhotoCipher, PhotoDecryptError

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"


@pytest.fixture
def cipher() -> PhotoCipher:
    return PhotoCipher(parse_key(new_key_text(), "test"))


def test_round_trip(cipher):
    name = cipher.name_for(PHOTO)
    blob = cipher.encrypt(PHOTO, name)
    assert blob[0] == VERSION and len(blob) == len(PHOTO) + HEADER_BYTES + TAG_BYTES
    assert PHOTO[4:100] not in blob
    assert cipher.decrypt(blob, name) == PHOTO


def test_each_encryption_draws_a_new_nonce(cipher):
    name = cipher.name_for(PHOTO)
    first, second = cipher.encrypt(PHOTO, name), cipher.encrypt(PHOTO, name)
    assert first[1:HEADER_BYTES] != second[1:HEADER_BYTES] and first != second


@pytest.mark.parametrize("where", [0, 1, HEADER_BYTES, HEADER_BYTES + 500, -1])
def test_a_flipped_byte_is_detected_with_a_message_naming_no_file(cipher, where, tmp_path):
    name = cipher.name_for(PHOTO)
    blob = bytearray(cipher.encrypt(PHOTO, name))
    blob[where] ^= 0x01
    with pytest.raises(PhotoDecryptError) as err:
        cipher.decrypt(bytes(blob), name)
    assert isinstance(err.value, ImageError) and isinstance(err.value, DermError)
    message = str(err.value)
    assert "cannot be decrypted" in message and name not in message and str(tmp_path) not in message


def test_a_truncated_file_is_refused(cipher):
    name = cipher.name_for(PHOTO)
    with pytest.raises(PhotoDecryptError, match="truncated"):
        cipher.decrypt(cipher.encrypt(PHOTO, name)[:20], name)


def test_another_key_cannot_decrypt(cipher):
    name = cipher.name_for(PHOTO)
    other = PhotoCipher(parse_key(new_key_text(), "other"))
    with pytest.raises(PhotoDecryptError, match="another data key"):
        other.decrypt(cipher.encrypt(PHOTO, name), name)


def test_a_file_moved_to_another_name_does_not_decrypt(cipher):
    blob = cipher.encrypt(PHOTO, cipher.name_for(PHOTO))
    with pytest.raises(PhotoDecryptError):
        cipher.decrypt(blob, cipher.name_for(b"another photo"))


def test_names_are_keyed_and_not_the_plain_sha256(cipher):
    name = cipher.name_for(PHOTO)
    assert name == cipher.name_for(PHOTO)  # the same photo twice: one file
    assert len(name) == 64 and int(name, 16) >= 0
    assert name != hashlib.sha256(PHOTO).hexdigest()
    assert PhotoCipher(parse_key(new_key_text(), "other")).name_for(PHOTO) != name
    assert cipher.name_for(PHOTO + b"\x00") != name


def test_the_cipher_shows_no_key(cipher):
    assert "key_id" in repr(cipher) and len(repr(cipher)) < 60

"""Photos on disk, encrypted, named by a keyed hash (an adapter).

``<root>/ab/cd/<name>``, where ``name`` is the HMAC-SHA256 of the stored photo under the data key's
name subkey (:meth:`PhotoCipher.name_for`), not its plain sha256: a name no longer tells whether a
known picture is stored. The name is what the database keeps: the ``case_images.sha256`` column (and
``StoredImage.sha256``, ``photo_hashes``, the outbox's ``"sha256"`` refs) holds this keyed name; the
column keeps its old name (no migration), its content is the keyed name. Rotating the data key
renames every file and updates those rows (``dermbot keys rotate``).

* What is stored is the photo re-encoded without metadata (:mod:`dermvqa.storage.photo_metadata`:
  no EXIF, GPS, XMP, ICC profile or comments; orientation applied). The patient's original bytes are
  decoded from memory and never written to disk.
* Each file is AES-256-GCM encrypted (:class:`dermvqa.storage.photo_cipher.PhotoCipher`), bound to its
  name; every reader goes through :meth:`ImageStore.read` (or :meth:`ImageStore.photo`), which
  decrypts in memory. A changed file is a :class:`PhotoDecryptError` naming no path.
* The same photo sent twice is stored once; a file is never modified after it is written (a temporary
  name, fsync, rename); it is removed only when no case image row refers to its name any more.
* Files are mode 600 and folders 700, whatever the umask (:mod:`dermvqa.storage.private_files`).

``encrypt=False`` (benchmarks comparing the cost only) stores plain files named by sha256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermvqa.errors import ImageError
from dermvqa.storage.keys import DataKey, load_data_key
from dermvqa.storage.models import CaseImage
from dermvqa.storage.photo_cipher import PhotoCipher
from dermvqa.storage.photo_metadata import clean_photo
from dermvqa.storage.private_files import create_private_file, make_private_dir

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[0-9a-f]{64}")


class PhotoMissing(ImageError):
    """A stored photo's file is not in the store (deleted, or the store folder is another one)."""


@dataclass(frozen=True)
class StoredImage:
    sha256: str  # the stored file's name: the keyed hash (see the module docstring), not a plain sha256
    size_bytes: int  # of the stored (cleaned) photo
    width: int
    height: int
    mime_type: str


@dataclass(frozen=True)
class StoredPhoto:
    """A reference to one stored photo that reads (and decrypts) it on demand: training examples hold
    these instead of paths. Its text shows the start of the name only."""

    store: ImageStore
    name: str

    def read_bytes(self) -> bytes:
        return self.store.read(self.name)

    def __str__(self) -> str:
        return f"stored photo {self.name[:12]}"


class ImageStore:
    """The photo store under ``root``, encrypted with ``key`` (default: the data key in
    ``DERMBOT_DATA_KEY``; callers with a Config pass ``load_data_key(config)``)."""

    def __init__(self, root: str | Path, key: DataKey | None = None, *, encrypt: bool = True) -> None:
        self.root = Path(root)
        self.key = (key if key is not None else load_data_key()) if encrypt else None  # repr shows its id only
        self._cipher = PhotoCipher(self.key) if self.key is not None else None
        self._root_private = False

    def __repr__(self) -> str:
        return f"ImageStore(encrypted={self.encrypted})"

    @property
    def encrypted(self) -> bool:
        return self._cipher is not None

    def name_for(self, data: bytes) -> str:
        """The name photo ``data`` is stored under: its keyed hash (plain sha256 when not encrypted)."""
        return self._cipher.name_for(data) if self._cipher is not None else hashlib.sha256(data).hexdigest()

    def path_for(self, name: str) -> Path:
        return self.root / name[:2] / name[2:4] / name

    def photo(self, name: str) -> StoredPhoto:
        return StoredPhoto(self, name)

    def put(self, data: bytes, *, max_pixels: int) -> StoredImage:
        """Validate a photo, strip its metadata and store it encrypted (idempotent).

        Raises :class:`ImageError` (or a subclass) for anything unusable; nothing is written then.
        ``data`` is only decoded from memory: the original bytes never reach the disk."""
        clean = clean_photo(data, max_pixels=max_pixels)
        name = self.save(clean.data)
        return StoredImage(name, len(clean.data), clean.width, clean.height, clean.mime_type)

    def save(self, data: bytes) -> str:
        """Store ``data`` as it is (no validation, no cleaning: :meth:`put` does those) and return its name."""
        name = self.name_for(data)
        path = self.path_for(name)
        if not path.exists():
            self._write(path, self._encrypt(data, name))
        return name

    def read(self, name: str) -> bytes:
        """The photo stored as ``name``, decrypted in memory. :class:`PhotoMissing` when there is no such
        file, :class:`PhotoDecryptError` when it was changed (neither names the path)."""
        try:
            blob = self.path_for(name).read_bytes()
        except FileNotFoundError:
            raise PhotoMissing("the image file is missing from storage") from None
        return self._cipher.decrypt(blob, name) if self._cipher is not None else blob

    def delete(self, name: str) -> bool:
        """Remove the file of ``name`` (no check of the database: see :meth:`delete_unreferenced`)."""
        try:
            self.path_for(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def names(self) -> Iterator[str]:
        """The name of every stored photo (temporary files and anything else left out)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/??/*")):
            if _NAME.fullmatch(path.name) and path.is_file():
                yield path.name

    def _encrypt(self, data: bytes, name: str) -> bytes:
        return self._cipher.encrypt(data, name) if self._cipher is not None else data

    def _write(self, path: Path, blob: bytes) -> None:
        if not self._root_private:
            make_private_dir(self.root)  # the store's own folder: 700 even if it existed
            self._root_private = True
        make_private_dir(path.parent)  # 700, created with its parents if needed
        # A name of its own: the same photo may be stored by two threads or processes at once.
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with os.fdopen(create_private_file(tmp), "wb") as handle:  # 600 whatever the umask
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)  # a failed write (disk full...) leaves no partial file behind

    def write_encrypted(self, name: str, data: bytes) -> None:
        """Write photo ``data`` under ``name`` (key rotation: a name computed with another store's key)."""
        self._write(self.path_for(name), self._encrypt(data, name))

    def delete_unreferenced(self, session: Session, hashes: set[str]) -> int:
        """Remove the files of ``hashes`` (stored names) that no case image row refers to any more."""
        if not hashes:
            return 0
        still_used = set(
            session.scalars(
                select(CaseImage.sha256)
                .where(CaseImage.sha256.in_(list(hashes)))
                .group_by(CaseImage.sha256)
                .having(func.count() > 0)
            )
        )
        removed = 0
        for name in hashes - still_used:
            removed += self.delete(name)
        return removed

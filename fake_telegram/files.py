"""Files in the fake Telegram server: uploads, stored photos and documents, and their downloads.

A stored file is addressable by ``file_id`` (what the bot sends back) and by ``file_path`` (the
download URL that getFile hands out). A photo is stored as Telegram stores it: a 90 px thumbnail
and the original bytes, as two PhotoSizes that share one photo set.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

from fake_telegram.errors import bad_request
from fake_telegram.limits import THUMBNAIL_SIDE


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request: its part name, file name, content type and bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file the fake server holds (a photo size or a document), addressable by id and by path."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo" or "document"
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    size_declared: bool = True  # False: file_size is left out of Document and File, as Telegram may

    @property
    def file_size(self) -> int:
        """The size in bytes."""
        return len(self.data)

    def as_photo_size(self) -> dict[str, Any]:
        """A Bot API ``PhotoSize``."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": self.file_size,
        }

    def as_document(self) -> dict[str, Any]:
        """A Bot API ``Document``."""
        document = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        if self.size_declared:
            document["file_size"] = self.file_size
        return document

    def as_file(self) -> dict[str, Any]:
        """A Bot API ``File`` (the getFile result); ``file_path`` is relative to the file URL."""
        file = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_path": self.file_path}
        if self.size_declared:
            file["file_size"] = self.file_size
        return file


def _probe_image(data: bytes) -> tuple[int, int, bytes, int, int] | None:
    """``(width, height, thumbnail_jpeg, thumb_width, thumb_height)``, or None when not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation: rotated by 90 degrees
                width, height = height, width
            image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # fast JPEG decoding at low size
            thumb = ImageOps.exif_transpose(image).convert("RGB")
        thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=80)
        return width, height, buffer.getvalue(), thumb.width, thumb.height
    except Exception:  # Pillow raises many types for corrupt data; any failure means "not an image"
        return None


class FileStore:
    """Mixed into the fake bot state: stores files and photo sets, serves downloads, counts them.

    Uses ``_lock``, ``_file_numbers``, ``_files``, ``_files_by_path``, ``_photo_sets`` and ``_downloads``,
    which :class:`~fake_telegram.state.FakeBotState` sets up.
    """

    def _store_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int = 0,
        height: int = 0,
        size_declared: bool = True,
    ) -> StoredFile:
        number = next(self._file_numbers)
        digest = hashlib.sha256(data).hexdigest()[:20]
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        if kind == "photo":
            extension = ".jpg"
        else:
            extension = ""
            if file_name and "." in file_name:
                extension = "." + file_name.rsplit(".", 1)[1][:10]
            elif mime_type:
                extension = mimetypes.guess_extension(mime_type) or ""
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}{digest}",
            file_unique_id=f"AQAD{number:08d}",
            kind=kind,
            data=bytes(data),
            file_path=f"{'photos' if kind == 'photo' else 'documents'}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            size_declared=size_declared,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _store_photo(self, data: bytes, *, strict: bool) -> list[dict[str, Any]]:
        """Stores a photo as Telegram does: PhotoSizes from a thumbnail up to the original bytes.

        An undecodable image is refused (``strict``, for bot uploads: IMAGE_PROCESS_FAILED) or kept as a
        single 0x0 size (users' photos; tests send corrupt images on purpose).
        """
        probe = _probe_image(data)
        if probe is None:
            if strict:
                raise bad_request("IMAGE_PROCESS_FAILED")
            sizes = [self._store_file(data, "photo").as_photo_size()]
        else:
            width, height, thumbnail, thumb_width, thumb_height = probe
            thumb = self._store_file(thumbnail, "photo", width=thumb_width, height=thumb_height)
            original = self._store_file(data, "photo", width=width, height=height)
            sizes = [thumb.as_photo_size(), original.as_photo_size()]
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        return sizes

    def file_bytes(self, file_id: str) -> bytes:
        """The stored bytes of any file (user or bot upload, any photo size); KeyError if unknown."""
        with self._lock:
            return self._files[file_id].data

    def downloads(self, file_id: str) -> int:
        """How many times the file was downloaded through the file URL."""
        with self._lock:
            return self._downloads[file_id]

    def _download(self, file_path: str) -> StoredFile | None:
        with self._lock:
            stored = self._files_by_path.get(file_path)
            if stored is not None:
                self._downloads[stored.file_id] += 1
            return stored

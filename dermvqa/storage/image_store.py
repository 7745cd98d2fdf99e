"""Photos on disk, content-addressed by sha256 (an adapter).

``<root>/ab/cd/<sha256>``: the same photo sent twice is stored once, a file is never modified
after it is written (written to a temporary name, fsynced, then renamed), and a file is removed
only when no case image row refers to its hash any more.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermvqa.drafting.images import load_image
from dermvqa.storage.models import CaseImage

logger = logging.getLogger(__name__)

MIME_BY_FORMAT = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    size_bytes: int
    width: int
    height: int
    mime_type: str


def inspect_image(data: bytes, *, max_pixels: int) -> tuple[int, int, str]:
    """(width, height, mime type) of a photo; raises ImageError when it cannot be decoded in full."""
    load_image(data, max_pixels=max_pixels, max_side=1 << 30)  # full decode: catches truncation
    with Image.open(io.BytesIO(data)) as image:
        return image.width, image.height, MIME_BY_FORMAT.get(image.format or "", "application/octet-stream")


class ImageStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, *, max_pixels: int) -> StoredImage:
        """Validate and store a photo (idempotent). Raises ImageError for anything unusable."""
        width, height, mime = inspect_image(data, max_pixels=max_pixels)
        sha = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # A name of its own: the same photo may be stored by two threads or processes at once.
            tmp = path.with_name(f"{sha}.{uuid.uuid4().hex}.tmp")
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        return StoredImage(sha, len(data), width, height, mime)

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def delete_unreferenced(self, session: Session, hashes: set[str]) -> int:
        """Remove the files of ``hashes`` that no case image row refers to any more."""
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
        for sha in hashes - still_used:
            try:
                self.path_for(sha).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

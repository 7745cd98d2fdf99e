"""Find an encounter's image files under a folder.

The challenge releases name images either as listed in ``image_ids`` (``IMG_ENC00852_00001.jpg``,
or a bare id such as ``11k2tzj`` with the extension left out) or as ``IMG_{ENCOUNTER}_{N}.*``.
"""

from __future__ import annotations

import re
from pathlib import Path

from dermvqa.data.challenge import Encounter

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _with_any_suffix(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _trailing_number(path: Path) -> int:
    match = re.search(r"_(\d+)$", path.stem)
    return int(match.group(1)) if match else 0


def resolve_images(encounter: Encounter, folder: str | Path) -> list[Path]:
    """The encounter's image files in order; an empty list when none is found.

    Listed ``image_ids`` win (exact name, or the name with any image extension, or
    ``IMG_{id}_*`` for a bare Reddit id); otherwise every ``IMG_{encounter_id}_{N}.*`` file,
    ordered by N.
    """
    folder = Path(folder)
    found: list[Path] = []
    for image_id in encounter.image_ids:
        exact = folder / image_id
        if exact.is_file():
            found.append(exact)
            continue
        stem = Path(image_id).stem if Path(image_id).suffix.lower() in IMAGE_SUFFIXES else image_id
        if (hit := _with_any_suffix(folder, stem)) is not None:
            found.append(hit)
            continue
        found.extend(_numbered(folder, stem))
    if found:
        return list(dict.fromkeys(found))
    return _numbered(folder, encounter.encounter_id)


def _numbered(folder: Path, stem: str) -> list[Path]:
    hits = [p for p in folder.glob(f"IMG_{stem}_*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(hits, key=_trailing_number)

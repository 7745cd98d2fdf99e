"""Read ``df_userinfo.csv`` (author_id, validation_level, rank_level) of the iiyi split."""

from __future__ import annotations

import csv
from pathlib import Path

from dermvqa.errors import DataFormatError
from dermvqa.metrics.reference_weights import AuthorInfo

REQUIRED_COLUMNS = ("author_id", "validation_level", "rank_level")


def load_userinfo(path: str | Path) -> dict[str, AuthorInfo]:
    """author_id -> AuthorInfo. A missing column or an empty author id is a DataFormatError."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataFormatError(f"{path}: missing column {missing[0]!r} (need {', '.join(REQUIRED_COLUMNS)})")
            out = {}
            for index, row in enumerate(reader):
                author = (row["author_id"] or "").strip()
                if not author:
                    raise DataFormatError(f"{path}: row {index}: field 'author_id': empty")
                out[author] = AuthorInfo(row["validation_level"] or "", row["rank_level"] or "")
            return out
    except FileNotFoundError:
        raise DataFormatError(f"{path}: file not found") from None

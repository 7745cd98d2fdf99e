"""Where the shared DermaVQA copy and the shipped examples live.

The real DermaVQA text lies beside the project in ``../shared/data/dermavqa`` (it is not copied
into the repository); ``DERMVQA_DATA`` may point elsewhere. Without it, the small example set
shipped in the package is used.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "DERMVQA_DATA"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = PACKAGE_DIR / "examples"


def shared_dermavqa_dir() -> Path | None:
    """The DermaVQA folder (with ``iiyi/`` and ``reddit/``), or None when it is absent."""
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]))
    candidates += [
        Path.cwd().parent / "shared" / "data" / "dermavqa",
        PACKAGE_DIR.parent.parent / "shared" / "data" / "dermavqa",
    ]
    for folder in candidates:
        if (folder / "iiyi").is_dir():
            return folder.resolve()
    return None

"""Where the shared DermaVQA copy and the shipped examples live.

The real DermaVQA text lies beside the project in ``../shared/data/dermavqa`` (it is not copied
into the repository); ``DERMVQA_DATA`` may point elsewhere. Without it, the small example set
shipped in the package is used. A ``DERMVQA_DATA`` that names no DermaVQA folder is an error (it
is never silently replaced by the fallback: the results would come from other data).
"""

from __future__ import annotations

import os
from pathlib import Path

from dermvqa.errors import ConfigError

DATA_ENV = "DERMVQA_DATA"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = PACKAGE_DIR / "examples"


def shared_dermavqa_dir() -> Path | None:
    """The DermaVQA folder (with ``iiyi/`` and ``reddit/``), or None when it is absent.

    Raises :class:`ConfigError` when ``DERMVQA_DATA`` is set but is not such a folder.
    """
    if os.environ.get(DATA_ENV):
        chosen = Path(os.environ[DATA_ENV]).expanduser()
        if not chosen.is_dir():
            raise ConfigError(f"{DATA_ENV}={chosen}: no such folder (unset it to use the default)")
        if not (chosen / "iiyi").is_dir():
            raise ConfigError(f"{DATA_ENV}={chosen}: not a DermaVQA folder (it has no iiyi/ folder inside)")
        return chosen.resolve()
    candidates = [
        Path.cwd().parent / "shared" / "data" / "dermavqa",
        PACKAGE_DIR.parent.parent / "shared" / "data" / "dermavqa",
    ]
    for folder in candidates:
        if (folder / "iiyi").is_dir():
            return folder.resolve()
    return None

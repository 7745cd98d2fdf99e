"""Files and folders only their owner can open (mode 600 and 700), whatever the process's umask.

Health data at rest (photos, the SQLite database and its ``-wal``/``-shm``, training outputs) is
created through these helpers: a file is created with ``os.open(..., 0o600)`` and then ``fchmod``-ed
(the umask can only take bits away, so without the second step a umask of 0o200 would leave a
read-only file, and an inherited descriptor could have had another mode); a folder is made and then
``chmod``-ed to 700, so nothing inside it is reachable by another user even when a library (Hugging
Face's ``save_pretrained``, SQLite) writes its own files there with the umask's mode.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents; each folder created here gets mode 700.

    Folders that already existed keep their mode, except ``path`` itself, which is set to 700
    (it is the folder the caller keeps private data in).
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another thread or process meanwhile
            pass
        else:
            os.chmod(folder, DIR_MODE)
    if path.is_dir() and (path.stat().st_mode & 0o777) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def create_private_file(path: Path, *, exclusive: bool = True) -> int:
    """Open a new file for writing, mode 600 exactly; returns the descriptor (the caller closes it)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private_file(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a temporary name, fsync, rename), mode 600.

    ``durable``: also fsync the folder, so the rename itself survives a power cut (progress markers)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = create_private_file(temporary)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def make_private(path: Path) -> None:
    """Set an existing file to 600 (a folder to 700); a missing path is left alone."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, DIR_MODE if Path(path).is_dir() else FILE_MODE)

"""The project's one error hierarchy.

Every error a user can cause (bad config, malformed data file, wrong ids, an image that cannot be
read) derives from :class:`DermError` and carries a message that names what is wrong and what is
allowed, so entry points can print it and exit without a traceback.
"""

from __future__ import annotations


class DermError(Exception):
    """Base class of every error this project raises on purpose.

    ``loggable``: whether the message may go to a log (see :mod:`dermvqa.logsafety`). Only classes
    whose messages name configuration keys, model ids or states, never patient data or file paths.
    """

    loggable: bool = False
    #: the exit status an entry point returns for it (see :data:`EXIT_CODES`)
    exit_code: int = 2


class ConfigError(DermError):
    """An invalid or missing configuration value (the message names the key)."""

    loggable = True


class DataFormatError(DermError):
    """A malformed challenge file: the message names the file, the index and the field."""


class AlignmentError(DermError):
    """Predictions and references do not cover the same encounter ids."""

    def __init__(self, message: str, *, missing=(), extra=(), duplicated=()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.extra = tuple(extra)
        self.duplicated = tuple(duplicated)


class MetricError(DermError):
    """A metric cannot be computed from its inputs (for example a reference weight of 0)."""


class ModelLoadError(DermError):
    """A model cannot be loaded (unknown id, missing files, unsupported revision)."""

    exit_code = 3
    loggable = True


class ServingUnavailableError(ModelLoadError):
    """The model server cannot be reached or fails (5xx) while a model is loaded: try again later.

    Not the model's fault, so never a reason to mark a registry entry failed (the worker keeps the
    model it has and tries again before its next batch).
    """

    exit_code = 4
    loggable = True  # names a URL and a status, never patient data


class ImageError(DermError):
    """An image cannot be used (corrupt, empty, not an image, too large)."""


class UnsupportedImageFormat(ImageError):
    """A file in a format that is never opened (only JPEG, PNG and WebP are)."""


class ImageTooLarge(ImageError):
    """An image with more pixels than allowed (read from its header, before decoding)."""


class DownloadError(DermError):
    """A file could not be fetched from Telegram."""


class FileTooLarge(DownloadError):
    """A file is (or turned out, while downloading) larger than allowed."""


class DraftingError(DermError):
    """Drafting failed. ``permanent`` errors are never retried."""

    permanent: bool = False


class PermanentDraftingError(DraftingError):
    """Drafting can never succeed for this input (for example every image is corrupt)."""

    permanent = True


class InvalidTransition(DermError):
    """A case or job state change that the state machine does not allow."""

    loggable = True


class UsageError(DermError):
    """A command-line argument that cannot work (a missing output folder, an empty list)."""


class UnreachableError(DermError):
    """A service the command needs (the database, Telegram) cannot be reached or refused us."""

    exit_code = 4
    loggable = True  # names a host (passwords masked, never the token), not patient data


#: Exit statuses of every entry point (``dermbot``, ``dermvqa``, ``python -m training.finetune``).
EXIT_CODES = {
    0: "success",
    1: "the work ran but some of it failed (for example drafts that failed); see the output",
    2: "the command cannot run as asked: bad arguments, configuration, data file or path",
    3: "the model cannot be loaded",
    4: "a service cannot be reached: the database or Telegram",
}


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit status for an error a person can fix, or None for a bug.

    Entry points print ``PROG: error: MESSAGE`` on stderr and exit with the status, instead of a
    traceback. Handles :class:`DermError` and :class:`OSError` (a file or folder that is missing,
    exists already or cannot be written); the message names only the file, never its content.
    """
    if isinstance(exc, DermError):
        return " ".join(str(exc).split()) or type(exc).__name__, exc.exit_code
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        where = f": {exc.filename}" if exc.filename else ""
        return f"{reason}{where}", 2
    return None

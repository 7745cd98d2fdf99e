"""The project's one error hierarchy.

Every error a user can cause (bad config, malformed data file, wrong ids, an image that cannot be
read) derives from :class:`DermError` and carries a message that names what is wrong and what is
allowed, so entry points can print it and exit without a traceback.
"""

from __future__ import annotations


class DermError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(DermError):
    """An invalid or missing configuration value (the message names the key)."""


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


class ImageError(DermError):
    """An image cannot be used (corrupt, empty, not an image, too large)."""


class DraftingError(DermError):
    """Drafting failed. ``permanent`` errors are never retried."""

    permanent: bool = False


class PermanentDraftingError(DraftingError):
    """Drafting can never succeed for this input (for example every image is corrupt)."""

    permanent = True


class InvalidTransition(DermError):
    """A case or job state change that the state machine does not allow."""

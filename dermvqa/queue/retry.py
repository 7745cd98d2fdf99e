"""The retry decision for a failed job (pure, as in procrastinate's RetryStrategy).

Given how many attempts a job has used and what went wrong, decide: retry after a delay, or give
up. Permanent errors (an image that cannot be decoded, a request the model server refuses) are
never retried: the same input would fail the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermvqa.errors import DraftingError, ImageError, ModelLoadError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 600.0

    def delay(self, attempts: int) -> float:
        """Exponential backoff: base, 2*base, 4*base ... capped at the maximum."""
        return min(self.backoff_base_seconds * (2 ** max(attempts - 1, 0)), self.backoff_max_seconds)


@dataclass(frozen=True)
class Retry:
    delay_seconds: float


@dataclass(frozen=True)
class GiveUp:
    reason: str


def is_permanent(error: BaseException) -> bool:
    if isinstance(error, ImageError | ModelLoadError):
        return True
    return isinstance(error, DraftingError) and error.permanent


def decide(policy: RetryPolicy, attempts: int, error: BaseException) -> Retry | GiveUp:
    """What to do after attempt number ``attempts`` (1-based) failed with ``error``."""
    if is_permanent(error):
        return GiveUp(f"permanent error: {describe(error)}")
    if attempts >= policy.max_attempts:
        return GiveUp(f"gave up after {attempts} attempt(s): {describe(error)}")
    return Retry(policy.delay(attempts))


def describe(error: BaseException) -> str:
    """A one-line description for ``last_error`` (our errors carry no patient text)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


# -- a busy database ------------------------------------------------------------------------------

# Words in a driver's message that mean "another transaction holds the lock: try again later"
# (SQLite's busy timeout ran out; PostgreSQL picked this transaction as a deadlock victim or could
# not serialise it). Anything else is a real error and is not retried here.
TRANSIENT_DB_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "deadlock detected",
    "could not serialize access",
    "lock timeout",
)


def is_transient_db_message(message: str) -> bool:
    """Whether a database error's message means a lock held by someone else (pure)."""
    text = message.lower()
    return any(words in text for words in TRANSIENT_DB_MESSAGES)


def db_retry_delay(message: str, tries: int, *, base_seconds: float = 0.5, max_seconds: float = 30.0) -> float | None:
    """Seconds to wait before try ``tries + 1`` of a database operation that failed with ``message``.

    None means "do not retry" (the error is not a lock). A lock is retried for as long as it lasts,
    the wait doubling from ``base_seconds`` up to ``max_seconds``: a worker must outlive a long
    migration or backup, never exit because of one (pure).
    """
    if not is_transient_db_message(message):
        return None
    return min(base_seconds * (2 ** min(max(tries - 1, 0), 60)), max_seconds)

"""Logs without patient words or secrets: one filter on every handler of an entry point.

Exception texts can quote a patient: a database error carries the SQL and its parameters, a Bot
API error can echo the message it refused, an image error can name a file. So a logged exception
keeps its type and where it happened (every frame of the traceback, chained exceptions included)
and drops its message, unless its class says the message is safe (``loggable = True``, set on
errors whose messages name only configuration keys or model ids). An exception passed as a
``%s`` argument is logged as its type name. Secrets (the bot token, the webhook secret) are
masked in whatever is left.

Entry points call :func:`configure_logging`; nothing else configures logging.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterable

WITHHELD = "<message withheld: may quote patient data>"
# sqlalchemy.engine: an explicit INFO level would switch SQL statement logging on; WARNING keeps it off.
QUIET = ("httpx", "httpcore", "alembic", "apscheduler.executors.default", "sqlalchemy.engine")
# Their debug lines print whole updates and API results (patients' names, words and file ids), so
# they stay at INFO even with --verbose.
NEVER_DEBUG = ("telegram", "tornado")


def describe_exception(exc: BaseException) -> str:
    """The exception's type and message when its class allows it, else its type alone."""
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    if getattr(exc, "loggable", False):
        return f"{name}: {exc}"
    return f"{name}: {WITHHELD}"


def format_safe_traceback(exc: BaseException) -> str:
    """Like ``traceback.format_exception`` with every message withheld (see the module docstring)."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception, another exception occurred:"
        else:
            current = None
    lines: list[str] = []
    for error, link_text in reversed(chain):  # oldest first, as Python prints it
        frames = traceback.extract_tb(error.__traceback__)
        if frames:
            lines.append("Traceback (most recent call last):")
            lines.extend(f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames)
        lines.append(describe_exception(error))
        if link_text:
            lines.extend(["", link_text, ""])
    return "\n".join(lines)


class SafeLogFilter(logging.Filter):
    """Rewrites each record so that nothing a patient wrote, and no secret, can leave through it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            args = tuple(describe_exception(a) if isinstance(a, BaseException) else a for a in args)
        elif isinstance(args, BaseException):
            args = describe_exception(args)
        record.args = args
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + format_safe_traceback(record.exc_info[1])
        record.msg, record.args = self._mask(message), None
        record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


def secrets_from_environment() -> list[str]:
    """The values of the service's secret variables that are set: the token, the webhook secret, the data
    keys and the model server's API key (the default variable; one named otherwise in [model] api_key_env
    is read only by the drafter, which never logs it)."""
    from dermvqa.config import DATA_KEY_ENVS, SERVICE_SECRET_ENVS, ModelConfig

    names = (*SERVICE_SECRET_ENVS, *DATA_KEY_ENVS, ModelConfig().api_key_env)
    values = [os.environ.get(name, "").strip() for name in names]
    return [v for v in values if v]


def configure_logging(level: int = logging.INFO, secrets: Iterable[str] | None = None) -> None:
    """For entry points: one stderr handler with :class:`SafeLogFilter`, chatty libraries quieted.

    ``secrets``: values to mask; by default those of the service's secret variables."""
    secrets = secrets_from_environment() if secrets is None else secrets
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SafeLogFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.captureWarnings(True)

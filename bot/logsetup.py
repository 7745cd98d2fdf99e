"""Logging for the service's entry points: levels, and a guard that keeps the bot token out.

httpx logs every request URL at INFO, and the Bot API puts the token in the URL; those loggers are
raised to WARNING, and a filter on the handler masks the token in anything that still mentions it.
"""

from __future__ import annotations

import logging
import sys

from dermvqa.config import read_token

QUIET = ("httpx", "httpcore", "alembic", "apscheduler.executors.default")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(s in message for s in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "<redacted>")
                record.msg, record.args = message, None
        return True


def configure_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    token = read_token()
    handler.addFilter(RedactSecrets([token] if token else []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
